/**
 * A one-line progress display on stderr: redrawn in place on a terminal, and printed as a
 * plain line every few seconds otherwise (CI logs and pipes get a readable history, not \r noise).
 */

const REDRAW_MS = 100;
const LINE_MS = 2000;

export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #started = performance.now();
  #last = 0;

  constructor(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#total = total;
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  update(done: number): void {
    const now = performance.now();
    if (now - this.#last < (this.#tty ? REDRAW_MS : LINE_MS) || done >= this.#total) return;
    this.#last = now;
    this.#write(done);
  }

  /** Draws the final state and ends the line. */
  finish(done: number = this.#total): void {
    this.#write(done);
    if (this.#tty) this.#stream.write("\n");
  }

  #write(done: number): void {
    const seconds = (performance.now() - this.#started) / 1000;
    const percent = this.#total === 0 ? 100 : Math.floor((done / this.#total) * 100);
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const text = `${this.#label} ${done}/${this.#total} (${percent}%)  ${rate}/s  ${seconds.toFixed(1)}s`;
    if (this.#tty) {
      this.#stream.write(`\r\u001b[2K${text}`);
    } else {
      this.#stream.write(`${text}\n`);
    }
  }
}
