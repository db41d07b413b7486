/**
 * Provenance stored beside each run's spec (never hashed): code ref, lockfile hash and versions,
 * so a run can be traced and replayed with the same inputs.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "./errors.js";
import { PACKAGE_VERSION } from "./version.js";

export interface Provenance {
  code_ref: string | null;
  lockfile_hash: string | null;
  reproq_version: string;
  app_version: string | null;
}

const LOCKFILES = ["package-lock.json", "pnpm-lock.yaml", "yarn.lock", "bun.lock", "npm-shrinkwrap.json"];

/** SHA-256 of the first lockfile found walking up from `cwd`, or null. */
export function findLockfileHash(cwd: string): string | null {
  let dir = path.resolve(cwd);
  for (;;) {
    for (const name of LOCKFILES) {
      const file = path.join(dir, name);
      if (existsSync(file)) {
        return createHash("sha256").update(readFileSync(file)).digest("hex");
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function appVersion(cwd: string): string | null {
  if (process.env.npm_package_version) return process.env.npm_package_version;
  const file = path.join(cwd, "package.json");
  if (!existsSync(file)) return null;
  try {
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : null;
  } catch {
    return null;
  }
}

export function resolveProvenance(options: {
  codeRef?: string;
  lockfileHash?: string;
  cwd: string;
}): Provenance {
  let lockfileHash: string | null = options.lockfileHash ?? null;
  if (lockfileHash === "auto") {
    lockfileHash = findLockfileHash(options.cwd);
    if (lockfileHash === null) {
      throw new ConfigError(
        `lockfileHash is "auto" but no package-lock.json, pnpm-lock.yaml or yarn.lock was found from ${options.cwd} upwards; set it explicitly or unset it`,
      );
    }
  }
  return {
    code_ref: options.codeRef ?? null,
    lockfile_hash: lockfileHash,
    reproq_version: PACKAGE_VERSION,
    app_version: appVersion(options.cwd),
  };
}
