/**
 * Starter config files for `reproq init`, in YAML, TOML or TypeScript, with the main settings
 * explained. The database URL is never written: it usually carries a password, which belongs
 * in the environment (DATABASE_URL), not in a file that gets committed.
 */

export type TemplateFormat = "yaml" | "toml" | "ts";

export const TEMPLATE_FILES: Record<TemplateFormat, string> = {
  yaml: "reproq.yaml",
  toml: "reproq.toml",
  ts: "reproq.config.ts",
};

export interface TemplateOptions {
  /** Task module globs; without them the setting is written commented out. */
  tasks?: readonly string[];
}

const EXAMPLE_TASKS = ["dist/tasks/**/*.js"];

/** Comment lines shared by every format (without the comment marker). */
const HEADER = [
  "Reproq configuration. Environment variables (REPROQ_*) override these settings and command-line",
  "flags override both; `reproq config --explain` shows every value and where it came from.",
  "",
  "The database URL is deliberately not set here: keep its password out of files and set",
  "DATABASE_URL (or REPROQ_DATABASE_URL) in the environment instead.",
];

interface Setting {
  comment: string[];
  key: string;
  value: string | number | readonly string[];
  /** Written commented out, as an example. */
  example?: boolean;
}

function settings(options: TemplateOptions): Setting[] {
  return [
    { comment: ["PostgreSQL schema that holds Reproq's tables."], key: "schema", value: "reproq" },
    {
      comment: [
        "Globs of task modules the worker imports, relative to this directory.",
        ...(options.tasks?.length ? [] : ["Uncomment and adjust, or pass --tasks to reproq worker."]),
      ],
      key: "tasks",
      value: options.tasks?.length ? options.tasks : EXAMPLE_TASKS,
      example: !options.tasks?.length,
    },
    {
      comment: ['Queues a worker serves; globs such as "bulk-*" are allowed.'],
      key: "queues",
      value: ["default"],
    },
    { comment: ["Runs one worker process executes at once."], key: "concurrency", value: 10 },
    {
      comment: [
        "Task-name prefixes a worker may run; unset allows every registered task.",
        "`reproq allowlist --write` fills this in from your tasks.",
      ],
      key: "allowedTaskModules",
      value: ["emails."],
      example: true,
    },
    {
      comment: [
        "Serve the worker's /metrics, /healthz and /events (docs/observability.md). Off unless set.",
        "Set METRICS_AUTH_TOKEN in the environment (never here) before binding a non-loopback address.",
      ],
      key: "metricsAddr",
      value: "127.0.0.1:9464",
      example: true,
    },
  ];
}

export function renderTemplate(format: TemplateFormat, options: TemplateOptions = {}): string {
  switch (format) {
    case "yaml":
      return renderYaml(settings(options));
    case "toml":
      return renderToml(settings(options));
    case "ts":
      return renderTs(settings(options));
  }
}

function comment(lines: readonly string[], marker: string, indent = ""): string[] {
  return lines.map((line) => (line === "" ? `${indent}${marker}`.trimEnd() : `${indent}${marker} ${line}`));
}

function renderYaml(rows: Setting[]): string {
  const out = [...comment(HEADER, "#")];
  for (const row of rows) {
    out.push("", ...comment(row.comment, "#"));
    const prefix = row.example ? "# " : "";
    if (Array.isArray(row.value)) {
      out.push(`${prefix}${row.key}:`);
      for (const item of row.value) out.push(`${prefix}  - ${JSON.stringify(item)}`);
    } else {
      out.push(`${prefix}${row.key}: ${JSON.stringify(row.value)}`);
    }
  }
  return `${out.join("\n")}\n`;
}

function renderToml(rows: Setting[]): string {
  const out = [...comment(HEADER, "#")];
  for (const row of rows) {
    out.push(
      "",
      ...comment(row.comment, "#"),
      `${row.example ? "# " : ""}${row.key} = ${literal(row.value)}`,
    );
  }
  return `${out.join("\n")}\n`;
}

function renderTs(rows: Setting[]): string {
  const out = [
    ...comment(HEADER, "//"),
    'import { defineConfig } from "reproq";',
    "",
    "export default defineConfig({",
  ];
  rows.forEach((row, index) => {
    if (index > 0) out.push("");
    out.push(
      ...comment(row.comment, "//", "  "),
      `  ${row.example ? "// " : ""}${row.key}: ${literal(row.value)},`,
    );
  });
  out.push("});");
  return `${out.join("\n")}\n`;
}

/** JSON literals are valid TOML and TypeScript for strings, numbers and string lists. */
function literal(value: string | number | readonly string[]): string {
  return Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(", ")}]` : JSON.stringify(value);
}
