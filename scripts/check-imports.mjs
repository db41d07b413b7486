#!/usr/bin/env node
/**
 * Fails (exit 1) when src/ breaks the layering rules of docs/architecture.md:
 * - no import cycle between files, type-only imports included;
 * - no cycle between the top-level rooms of src/ (folders, and root files on their own);
 * - the named one-way rules below (a lower room never imports a higher one);
 * - SQL statements only in sql/ (and connection-level ones in db/).
 * Run by `npm run lint`, so CI keeps the tree acyclic.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import madge from "madge";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** [from room, forbidden target rooms, why]. Rooms are the first path segment under src/. */
const RULES = [
  [
    "db",
    ["sql", "worker", "ops", "cli", "scheduler", "http", "backend.ts", "runtime.ts", "task.ts"],
    "db/ is the floor: connections, names, transactions",
  ],
  [
    "sql",
    ["worker", "ops", "cli", "scheduler", "http", "backend.ts", "runtime.ts", "task.ts"],
    "sql/ holds statements and migrations; callers sit above it",
  ],
  ["codec", ["db", "sql", "worker", "ops", "cli", "scheduler", "config"], "codec/ is pure"],
  ["config", ["db", "sql", "worker", "ops", "cli", "scheduler"], "config/ only describes settings"],
  ["worker", ["ops", "cli", "http"], "the worker is below every operator surface"],
  [
    "ops",
    ["cli", "http", "dashboard", "tui"],
    "ops/ is the operator API: surfaces call it, never the reverse",
  ],
];

const room = (file) => {
  const [first, second] = file.split("/");
  return second === undefined ? first : first;
};

const result = await madge(path.join(root, "src"), {
  fileExtensions: ["ts"],
  tsConfig: path.join(root, "tsconfig.json"),
  detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
});
const graph = result.obj();
const problems = [];

for (const cycle of result.circular()) problems.push(`import cycle: ${[...cycle, cycle[0]].join(" -> ")}`);

const roomEdges = new Map();
for (const [file, deps] of Object.entries(graph)) {
  const from = room(file);
  for (const dep of deps) {
    const to = room(dep);
    if (to === from) continue;
    for (const [ruleRoom, forbidden, why] of RULES) {
      if (from === ruleRoom && forbidden.includes(to))
        problems.push(`src/${file} imports src/${dep}: ${why}`);
    }
    if (!roomEdges.has(from)) roomEdges.set(from, new Map());
    if (!roomEdges.get(from).has(to)) roomEdges.get(from).set(to, `src/${file} -> src/${dep}`);
  }
}

// Cycles between rooms (Tarjan's strongly connected components).
let index = 0;
const stack = [];
const meta = new Map();
const components = [];
const visit = (node) => {
  meta.set(node, { index, low: index, onStack: true });
  index++;
  stack.push(node);
  for (const next of roomEdges.get(node)?.keys() ?? []) {
    if (!meta.has(next)) {
      visit(next);
      meta.get(node).low = Math.min(meta.get(node).low, meta.get(next).low);
    } else if (meta.get(next).onStack) {
      meta.get(node).low = Math.min(meta.get(node).low, meta.get(next).index);
    }
  }
  if (meta.get(node).low === meta.get(node).index) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      meta.get(member).onStack = false;
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component);
  }
};
for (const node of roomEdges.keys()) if (!meta.has(node)) visit(node);
for (const component of components) {
  const members = new Set(component);
  const ties = [];
  for (const from of component)
    for (const [to, example] of roomEdges.get(from) ?? []) if (members.has(to)) ties.push(example);
  problems.push(`rooms import each other: ${component.join(", ")} (${ties.join("; ")})`);
}

// SQL lives in sql/ (statements and migrations); db/ may send connection-level statements
// (LISTEN, BEGIN, a ping). A string starting with a data statement anywhere else is a leak.
const SQL_STATEMENT = /["'`]\s*(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS)\b/;
for (const file of Object.keys(graph)) {
  if (file.startsWith("sql/") || file.startsWith("db/")) continue;
  const lines = readFileSync(path.join(root, "src", file), "utf8").split("\n");
  lines.forEach((line, i) => {
    if (SQL_STATEMENT.test(line))
      problems.push(`src/${file}:${i + 1} has SQL; statements belong in src/sql/`);
  });
}

if (problems.length > 0) {
  for (const line of problems) console.error(`check-imports: ${line}`);
  console.error(
    `check-imports: ${problems.length} problem(s); imports must point one way and SQL stays in sql/ (docs/architecture.md)`,
  );
  process.exit(1);
}
console.log(`check-imports: ${Object.keys(graph).length} files, no cycles, layering rules hold`);
