/**
 * `reproq upgrade`: there is nothing separate to upgrade. The worker, the scheduler and this CLI
 * ship in the npm package, so upgrading is updating the package and applying its migrations.
 */
import type { Command } from "commander";
import { PACKAGE_VERSION } from "../../version.js";
import { type GlobalOptions, output } from "../context.js";

const STEPS = ["npm update reproq", "npx reproq migrate"];

export function registerUpgradeCommand(program: Command): void {
  program
    .command("upgrade")
    .description("how to upgrade: the worker ships in the npm package")
    .addHelpText("after", "\nExample:\n  $ reproq upgrade\n")
    .action((_flags: object, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      output(opts, { version: PACKAGE_VERSION, steps: STEPS }, () => [
        `reproq ${PACKAGE_VERSION}: the worker, scheduler and CLI ship in the npm package, so there is no`,
        "separate binary to upgrade. Update the package and apply its migrations:",
        "",
        `  ${STEPS.join(" && ")}`,
        "",
        "Then restart the workers and the scheduler so they run the new version.",
      ]);
    });
}
