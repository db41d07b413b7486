/**
 * Typing helper for reproq.config.ts / reproq.config.mjs: `export default defineConfig({ ... })`
 * gives editor completion and type checks on the settings; it returns its argument unchanged.
 */
import type { ReproqConfigInput } from "./schema.js";

export function defineConfig(config: ReproqConfigInput): ReproqConfigInput {
  return config;
}
