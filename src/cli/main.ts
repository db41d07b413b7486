#!/usr/bin/env node
/**
 * The `reproq` executable: runs the command line and turns every outcome into an exit
 * status. Errors are one `reproq: <message>` line on stderr (plus stack and cause with
 * --verbose); status 2 means usage or configuration, 1 any other failure.
 */
import { CommanderError } from "commander";
import { ReproqError } from "../errors.js";
import { buildProgram } from "./program.js";

/** Runs the command line and returns the exit status; never throws. */
async function run(argv: readonly string[]): Promise<number> {
  // Read from argv rather than parsed options: a parse error happens before options exist.
  const verbose = hasFlag(argv.slice(2), "--verbose");
  try {
    await buildProgram().parseAsync(argv);
    return currentExitCode();
  } catch (error) {
    return report(error, verbose);
  }
}

function report(error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // --help and --version also arrive here, with exit code 0 and their text already printed.
    if (error.exitCode === 0) return 0;
    // A bare `reproq` has already written its help to stderr; there is no message to add.
    if (error.code !== "commander.help") printError(error.message.replace(/^error:\s*/, ""));
    return 2;
  }
  printError(messageOf(error));
  if (verbose) process.stderr.write(`${describeChain(error)}\n`);
  return error instanceof ReproqError ? error.exitCode : 1;
}

function printError(message: string): void {
  // Driver messages can span lines; one line keeps errors greppable and log-friendly.
  const oneLine = message.replace(/\s*\n\s*/g, " ").trim();
  process.stderr.write(`reproq: ${oneLine || "unknown error"}\n`);
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    // AggregateError (e.g. every address of a host refused) can have an empty message.
    if (error.message) return error.message;
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${error.name} ${code}` : error.name;
  }
  return String(error);
}

/** The stack of the error and of each cause under it. */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    const text =
      current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current);
    parts.push(depth === 0 ? text : `Caused by: ${text}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join("\n");
}

function hasFlag(args: readonly string[], flag: string): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes(flag);
}

function currentExitCode(): number {
  const code = Number(process.exitCode ?? 0);
  return Number.isInteger(code) ? code : 1;
}

/** Resolves once everything written so far has been handed to the OS. */
function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write("", () => resolve());
  });
}

// A closed pipe (`reproq config | head -1`) is not an error worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(currentExitCode());
  throw error;
});

const status = await run(process.argv);
process.exitCode = status;
await Promise.all([flush(process.stdout), flush(process.stderr)]);
// Pools are closed by now; exiting explicitly means no stray handle can keep the CLI hanging.
process.exit(status);
