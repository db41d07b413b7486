/**
 * `reproq upgrade`: there is nothing separate to upgrade. The worker, the scheduler and this CLI
 * ship in the npm package, so upgrading is updating the package and applying its migrations.
 */
import { upgradePlan } from "../../ops/upgrade.js";
import { defineCommand } from "../define.js";

export const upgradeCommand = defineCommand({
  name: "upgrade",
  description: "how to upgrade: the worker ships in the npm package",
  help: "\nExample:\n  $ reproq upgrade\n",
  config: "none",
  run: () => upgradePlan(),
  text: (plan) => [
    `reproq ${plan.version}: the worker, scheduler and CLI ship in the npm package, so there is no`,
    "separate binary to upgrade. Update the package and apply its migrations:",
    "",
    `  ${plan.steps.join(" && ")}`,
    "",
    "Then restart the workers and the scheduler so they run the new version.",
  ],
});
