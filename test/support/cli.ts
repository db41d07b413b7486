/** Running the real `reproq` bin (dist/cli/main.js) as a subprocess. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The caller's environment without anything that configures Reproq, so each test sets only what it means to. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === "DATABASE_URL" || name.startsWith("REPROQ_")) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd, env: cleanEnv(options.env), timeout: options.timeoutMs ?? 20_000 },
      (error, stdout, stderr) => {
        // A non-zero exit is an expected outcome here; only a failure to run (or a timeout) is not.
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
