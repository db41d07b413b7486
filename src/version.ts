/** The package version, read once from package.json (which ships with the package). */
import { readFileSync } from "node:fs";

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "0.0.0";
}

export const PACKAGE_VERSION: string = readVersion();
