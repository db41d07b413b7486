/**
 * A command as a declaration: its name, flags (and which settings they override), whether it
 * needs a database, a `run` that calls ops/ and returns plain data, and how that data is shown.
 * The runner does the rest the same way for every command: parse flags, resolve the
 * configuration (config file, environment, then flags), open the pool on first use and always
 * close it, print the data as text or (with --json) JSON, and turn a failed verdict into the
 * usual one `reproq: ...` line on stderr with exit status 1.
 */
import { type Command, Option } from "commander";
import type pg from "pg";
import type { ResolvedConfig } from "../config/load.js";
import type { ConfigKey } from "../config/schema.js";
import { type Connection, connect } from "../db/connect.js";
import { cliConnectOptions, type GlobalOptions, printJson, printLines, resolveCliConfig } from "./context.js";

/** One flag, as commander spells it ("--id <id>", "--tasks <globs...>", "--dry-run"). */
export interface OptionSpec {
  flags: string;
  description: string;
  /** Commander reports a missing required option itself (exit 2). */
  required?: boolean;
  default?: string;
  choices?: readonly string[];
  /** Accepted but left out of --help (an alternative spelling). */
  hidden?: boolean;
  /** The setting this flag overrides, above the config file and the environment; lists join with commas. */
  setting?: ConfigKey;
}

/** A positional argument such as "<name>". */
export interface ArgumentSpec {
  name: string;
  description: string;
}

/** The pool a command opens: at most `max` connections, named `reproq:<role>` in pg_stat_activity. */
export interface DatabaseNeed {
  max: number;
  role?: string;
}

export interface CommandSpec<Flags, Input, Data> {
  name: string;
  description: string;
  aliases?: readonly string[];
  arguments?: readonly ArgumentSpec[];
  options?: readonly OptionSpec[];
  /** Text after the options in --help (examples, notes). */
  help?: string;
  /**
   * "before-run" (the default): resolved before `run`, so `ctx.config` is ready. "none": `run`
   * calls `ctx.loadConfig()` itself when it needs it (init reads the file it has just written; upgrade
   * reads none).
   */
  config?: "before-run" | "none";
  /** The pool `ctx.db` opens on first use; a command without one cannot touch `ctx.db`. */
  database?: DatabaseNeed;
  /**
   * Checks the flags and positional arguments before the configuration is read, so a mistyped flag
   * is reported first. Its result is `run`'s input; without it the input is undefined.
   */
  parse?: (flags: GlobalOptions & Flags, args: readonly string[]) => Input;
  /** The work: calls ops/ (or the worker and scheduler modules) and returns plain data, or nothing. */
  run: (ctx: CommandContext<Flags>, input: Input) => Promise<Data> | Data;
  /** Stdout without --json; null prints nothing. Without `text` the command prints nothing. */
  text?: (data: Data, ctx: CommandContext<Flags>) => string | readonly string[] | null;
  /** What --json prints (default: the data itself); `false` when --json does not apply to this command. */
  json?: ((data: Data) => unknown) | false;
  /** Lines for stderr after the output: notes about the result, never the data itself. */
  notes?: (data: Data, ctx: CommandContext<Flags>) => readonly string[];
  /**
   * After the output: a message when the result is a failure (printed as `reproq: <message>`, exit
   * status 1), or undefined. It may also throw, like `run`.
   */
  verdict?: (data: Data, ctx: CommandContext<Flags>) => string | undefined;
}

/** What `run` works with. The pool opens on first use of `db` and is closed when the command ends. */
export class CommandContext<Flags> {
  readonly flags: GlobalOptions & Flags;
  readonly args: readonly string[];
  /** The directory task globs and written files are relative to. */
  readonly cwd: string = process.cwd();
  readonly #spec: CommandSpec<Flags, unknown, unknown>;
  #config: ResolvedConfig | undefined;
  #connection: Connection | undefined;

  constructor(
    spec: CommandSpec<Flags, unknown, unknown>,
    flags: GlobalOptions & Flags,
    args: readonly string[],
  ) {
    this.#spec = spec;
    this.flags = flags;
    this.args = args;
  }

  /** Resolves the configuration: config file, environment, then --dsn, --schema and the setting flags. */
  async loadConfig(): Promise<ResolvedConfig> {
    this.#config ??= await resolveCliConfig(
      this.flags,
      ...settingFlags(this.#spec.options ?? [], this.flags),
    );
    return this.#config;
  }

  get config(): ResolvedConfig {
    if (this.#config === undefined) {
      throw new Error(`reproq ${this.#spec.name}: the configuration is read by loadConfig(), not yet called`);
    }
    return this.#config;
  }

  get schema(): string {
    return this.config.values.schema;
  }

  /** The command's pool; a ConfigError naming every way to set a database when none is configured. */
  get db(): pg.Pool {
    const need = this.#spec.database;
    if (need === undefined) throw new Error(`reproq ${this.#spec.name} declares no database`);
    this.#connection ??= connect(cliConnectOptions(this.config, need));
    return this.#connection.pool;
  }

  /** Ends the pool if one was opened; a failure to close never hides the command's own outcome. */
  async close(): Promise<void> {
    await this.#connection?.close().catch(() => {});
    this.#connection = undefined;
  }
}

/** A declared command (or group of commands), added to a parent with `register`. */
export interface CommandDefinition {
  readonly name: string;
  register(parent: Command): Command;
}

export function defineCommand<Flags = object, Input = undefined, Data = void>(
  spec: CommandSpec<Flags, Input, Data>,
): CommandDefinition {
  return {
    name: spec.name,
    register(parent) {
      const command = parent.command(spec.name).description(spec.description);
      for (const alias of spec.aliases ?? []) command.alias(alias);
      for (const argument of spec.arguments ?? []) command.argument(argument.name, argument.description);
      for (const option of spec.options ?? []) command.addOption(toCommanderOption(option));
      if (spec.help !== undefined) command.addHelpText("after", spec.help);
      command.action(async (...received: unknown[]) => {
        // Commander passes the positional arguments, then the options object, then the command.
        const cmd = received.at(-1) as Command;
        const args = received.slice(0, -2).map(String);
        await execute(spec, cmd.optsWithGlobals<GlobalOptions & Flags>(), args);
      });
      return command;
    },
  };
}

/** A command that only holds subcommands (`reproq limit set|list|delete`). */
export function defineGroup(spec: {
  name: string;
  description: string;
  help?: string;
  commands: readonly CommandDefinition[];
}): CommandDefinition {
  return {
    name: spec.name,
    register(parent) {
      const group = parent.command(spec.name).description(spec.description);
      if (spec.help !== undefined) group.addHelpText("after", spec.help);
      for (const command of spec.commands) command.register(group);
      return group;
    },
  };
}

async function execute<Flags, Input, Data>(
  spec: CommandSpec<Flags, Input, Data>,
  flags: GlobalOptions & Flags,
  args: readonly string[],
): Promise<void> {
  const input = (spec.parse ? spec.parse(flags, args) : undefined) as Input;
  const ctx = new CommandContext<Flags>(spec as CommandSpec<Flags, unknown, unknown>, flags, args);
  if ((spec.config ?? "before-run") === "before-run") await ctx.loadConfig();
  let data: Data;
  try {
    data = await spec.run(ctx, input);
  } finally {
    await ctx.close();
  }
  if (data === undefined) return;
  print(spec, ctx, data);
  for (const line of spec.notes?.(data, ctx) ?? []) process.stderr.write(`${line}\n`);
  const failure = spec.verdict?.(data, ctx);
  if (failure !== undefined) {
    // The data is on stdout; the verdict is the usual one error line on stderr.
    process.stderr.write(`reproq: ${failure}\n`);
    process.exitCode = 1;
  }
}

function print<Flags, Input, Data>(
  spec: CommandSpec<Flags, Input, Data>,
  ctx: CommandContext<Flags>,
  data: Data,
): void {
  if (ctx.flags.json && spec.json !== false) {
    printJson(spec.json ? spec.json(data) : data);
    return;
  }
  const text = spec.text?.(data, ctx) ?? null;
  if (text !== null) printLines(text);
}

function toCommanderOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  if (spec.required) option.makeOptionMandatory();
  if (spec.default !== undefined) option.default(spec.default);
  if (spec.choices !== undefined) option.choices(spec.choices);
  if (spec.hidden) option.hideHelp();
  return option;
}

/** The setting flags that were given, as configuration overrides and the flag names to report them by. */
function settingFlags(
  options: readonly OptionSpec[],
  flags: object,
): [Partial<Record<ConfigKey, unknown>>, Partial<Record<ConfigKey, string>>] {
  const values: Partial<Record<ConfigKey, unknown>> = {};
  const names: Partial<Record<ConfigKey, string>> = {};
  for (const spec of options) {
    if (spec.setting === undefined) continue;
    const option = new Option(spec.flags);
    const value = (flags as Record<string, unknown>)[option.attributeName()];
    if (value === undefined) continue;
    values[spec.setting] = Array.isArray(value) ? value.join(",") : value;
    names[spec.setting] = option.long ?? spec.flags;
  }
  return [values, names];
}
