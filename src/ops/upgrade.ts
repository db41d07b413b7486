/**
 * How to upgrade: the worker, the scheduler and the CLI ship in the npm package, so upgrading is
 * updating the package and applying its migrations. Returned as data so every surface says the same.
 */
import { PACKAGE_VERSION } from "../version.js";

export interface UpgradePlan {
  /** The version installed now. */
  version: string;
  /** Shell commands, in order. */
  steps: string[];
}

export function upgradePlan(): UpgradePlan {
  return { version: PACKAGE_VERSION, steps: ["npm update reproq", "npx reproq migrate"] };
}
