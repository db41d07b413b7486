/** Interval checks for concurrency tests. */
export interface Span {
  start: number;
  end: number;
}

/** The largest number of spans open at one moment (a span ending as another starts does not overlap it). */
export function maxOverlap(spans: readonly Span[]): number {
  const events = spans.flatMap((s) => [
    [s.start, 1],
    [s.end, -1],
  ]);
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let max = 0;
  for (const [, delta] of events) {
    open += delta!;
    max = Math.max(max, open);
  }
  return max;
}
