import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, SETTINGS } from "../../src/config/schema.js";

describe("docs", () => {
  it("document every setting with its environment variables", () => {
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    for (const key of CONFIG_KEYS) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${key}\``));
      expect(row, `docs/configuration.md has no row for ${key}`).toBeDefined();
      for (const env of SETTINGS[key].env) expect(row, `${key} row names ${env}`).toContain(env);
    }
  });
});
