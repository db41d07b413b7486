/**
 * Workflows: chain (steps one after another, optionally piping each return value into the
 * next step), group (steps in parallel) and chord (a group, then one callback). Builders only
 * validate and write rows, all in one transaction; the database advances a workflow as its
 * runs finish (migration 3), so no worker or producer code takes part in running one.
 */
import { randomUUID } from "node:crypto";
import type { BulkItem } from "./backend.js";
import type { Queryable } from "./db/pool.js";
import {
  checkOptionKeys,
  ENQUEUE_OPTION_KEYS,
  type EnqueueOptions,
  type TaskDefinition,
} from "./definition.js";
import { InvalidInputError } from "./errors.js";
import type { TaskResult } from "./result.js";
import { getBackend } from "./runtime.js";
import { insertChain, insertChord, insertGroup } from "./sql/workflows.js";

/** Per-step options: those of `.using()`, without `client` (give that to `.enqueue()`). */
export type StepOptions<A extends unknown[] = unknown[]> = Omit<EnqueueOptions<A>, "client"> & {
  pipe?: false;
};

/** A chain step that receives the previous step's return value as its last argument. */
export type PipedStepOptions<A extends unknown[] = unknown[]> = Omit<EnqueueOptions<A>, "client"> & {
  pipe: true;
};

/** The arguments given at enqueue for a piped step: all but the last, which the pipe fills. */
export type PipedArgs<A extends unknown[]> = A extends [...infer Head, unknown] ? Head : never;
type LastArg<A extends unknown[]> = A extends [...unknown[], infer L] ? L : never;

/** A step: `[task, args]`, `[task, args, options]`, or a bare task that takes no arguments. */
export type Step<A extends unknown[] = unknown[], R = unknown> =
  | TaskDefinition<A, R>
  | readonly [TaskDefinition<A, R>, Readonly<A>]
  | readonly [TaskDefinition<A, R>, Readonly<A>, StepOptions<A>];

export type PipedStep<A extends unknown[] = unknown[], R = unknown> = readonly [
  TaskDefinition<A, R>,
  Readonly<PipedArgs<A>>,
  PipedStepOptions<A>,
];

// biome-ignore lint/suspicious/noExplicitAny: erases each step's types so one list can hold different tasks
type AnyTask = TaskDefinition<any, any>;
type AnyStep =
  | AnyTask
  | readonly [AnyTask, readonly unknown[]]
  | readonly [AnyTask, readonly unknown[], StepOptions<never[]> | PipedStepOptions<never[]>];

/** Shown in the type error when a piped value does not fit the step's last parameter. */
interface PipeMismatch<Piped, Expected> {
  "the previous step's return value does not fit this step's last parameter": true;
  returns: Piped;
  expects: Expected;
}

type CheckStep<S> =
  S extends TaskDefinition<infer A, infer R>
    ? [] extends A
      ? S
      : readonly [TaskDefinition<A, R>, Readonly<A>]
    : S extends readonly [TaskDefinition<infer A, infer R>, ...unknown[]]
      ?
          | readonly [TaskDefinition<A, R>, Readonly<A>]
          | readonly [TaskDefinition<A, R>, Readonly<A>, StepOptions<A>]
      : AnyStep;

type CheckChainStep<S, Piped> = S extends readonly [
  TaskDefinition<infer A, infer R>,
  unknown,
  { readonly pipe: true },
]
  ? [Piped] extends [LastArg<A>]
    ? PipedStep<A, R>
    : readonly [
        TaskDefinition<A, R>,
        Readonly<PipedArgs<A>>,
        PipedStepOptions<A> & { pipe: PipeMismatch<Piped, LastArg<A>> },
      ]
  : CheckStep<S>;

type ReturnOf<S> =
  S extends TaskDefinition<infer _A, infer R>
    ? R
    : S extends readonly [TaskDefinition<infer _A, infer R>, ...unknown[]]
      ? R
      : unknown;

/** The step before position K (unknown before the first one). */
type Previous<T extends readonly unknown[], K> = K extends keyof [unknown, ...T]
  ? [unknown, ...T][K]
  : unknown;

/** Checks each step against its own task, like bulkEnqueue's items. */
export type CheckedSteps<T extends readonly unknown[]> = { [K in keyof T]: CheckStep<T[K]> };

/** Checks each step, and each piped step against the previous step's return type. */
export type CheckedChain<T extends readonly unknown[]> = {
  [K in keyof T]: CheckChainStep<T[K], ReturnOf<Previous<T, K>>>;
};

export interface WorkflowEnqueueOptions {
  /** A node-postgres client inside your transaction: the whole workflow commits or rolls back with it. */
  client?: Queryable;
}

export interface ChordResults {
  workflowId: string;
  members: TaskResult[];
  callback: TaskResult;
}

export interface Chain {
  readonly kind: "chain";
  /** Writes every step (the first READY, the rest WAITING); results in step order. */
  enqueue(options?: WorkflowEnqueueOptions): Promise<TaskResult[]>;
}

export interface Group {
  readonly kind: "group";
  /** Writes every member READY; results in the given order. */
  enqueue(options?: WorkflowEnqueueOptions): Promise<TaskResult[]>;
}

export interface Chord {
  readonly kind: "chord";
  /** Writes the members READY and the callback WAITING (READY at once when there are no members). */
  enqueue(options?: WorkflowEnqueueOptions): Promise<ChordResults>;
}

/** Runs the steps one after another; a step starts only after the previous one succeeded. */
export function chain<const T extends readonly AnyStep[]>(...steps: T & CheckedChain<T>): Chain {
  const list: readonly unknown[] = [...steps];
  return {
    kind: "chain",
    async enqueue(options = {}) {
      checkWorkflowOptions(options, "chain");
      if (list.length === 0) throw new InvalidInputError("chain: expected at least one step");
      const steps = list.map((step, i) => normalizeStep(step, `chain step ${i}`, true));
      if (steps[0]!.pipe) {
        throw new InvalidInputError("chain step 0: pipe: true needs a previous step to take the value from");
      }
      const backend = getBackend();
      const id = randomUUID();
      const runs = await backend.prepareRuns(
        steps.map((s) => s.item),
        { id, label: "chain step" },
      );
      const rows = await backend.transaction(options.client, (db, schema) =>
        insertChain(
          db,
          schema,
          id,
          runs.map((run, i) => ({ run, pipe: steps[i]!.pipe })),
        ),
      );
      return backend.resultsOf(rows, true);
    },
  };
}

/** Runs the steps in parallel under one workflow id. */
export function group<const T extends readonly AnyStep[]>(...steps: T & CheckedSteps<T>): Group {
  const list: readonly unknown[] = [...steps];
  return {
    kind: "group",
    async enqueue(options = {}) {
      checkWorkflowOptions(options, "group");
      const items = list.map((step, i) => normalizeStep(step, `group step ${i}`, false).item);
      if (items.length === 0) return [];
      const backend = getBackend();
      const id = randomUUID();
      const runs = await backend.prepareRuns(items, { id, label: "group step" });
      const rows = await backend.transaction(options.client, (db, schema) =>
        insertGroup(db, schema, id, runs),
      );
      return backend.resultsOf(rows, true);
    },
  };
}

/** Runs the members in parallel, then the callback exactly once after every member succeeded. */
export function chord<const T extends readonly AnyStep[], const C extends AnyStep>(
  members: T & CheckedSteps<T>,
  callback: C & CheckStep<C>,
): Chord {
  if (!Array.isArray(members)) {
    throw new InvalidInputError("chord: expected an array of member steps, then the callback step");
  }
  const list: readonly unknown[] = [...members];
  return {
    kind: "chord",
    async enqueue(options = {}) {
      checkWorkflowOptions(options, "chord");
      const items = list.map((step, i) => normalizeStep(step, `chord step ${i}`, false).item);
      items.push(normalizeStep(callback, "chord callback", false).item);
      const backend = getBackend();
      const id = randomUUID();
      // The callback is the last step: members are 0..n-1, the callback n.
      const runs = await backend.prepareRuns(items, { id, label: "chord step" });
      const callbackRun = runs.pop()!;
      const rows = await backend.transaction(options.client, (db, schema) =>
        insertChord(db, schema, id, runs, callbackRun),
      );
      const results = backend.resultsOf([...rows.members, rows.callback], true);
      const callbackResult = results.pop()!;
      return { workflowId: id, members: results, callback: callbackResult };
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the erased item type bulkEnqueue itself takes
type AnyItem = BulkItem<any, any>;

function isTask(value: unknown): value is TaskDefinition {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof (value as TaskDefinition).name === "string" &&
    typeof (value as TaskDefinition).handler === "function"
  );
}

const STEP_OPTION_KEYS = [...ENQUEUE_OPTION_KEYS, "pipe"];

/** A workflow's .enqueue() options: only `client`; a misspelled key is refused by name. */
function checkWorkflowOptions(options: unknown, kind: string): void {
  checkOptionKeys(options, ["client"], "option", `${kind} .enqueue()`);
}

/** A step as a bulk item plus its pipe flag; shape errors name the step. */
function normalizeStep(step: unknown, where: string, chainStep: boolean): { item: AnyItem; pipe: boolean } {
  if (isTask(step)) return { item: [step, []] as unknown as AnyItem, pipe: false };
  if (!Array.isArray(step) || step.length < 2 || step.length > 3) {
    throw new InvalidInputError(`${where}: expected a task, [task, args] or [task, args, options]`);
  }
  const [definition, args, options] = step as [unknown, unknown, unknown];
  if (options === undefined) return { item: [definition, args] as unknown as AnyItem, pipe: false };
  if (options === null || typeof options !== "object") {
    throw new InvalidInputError(`${where}: options must be an object`);
  }
  const { pipe, ...rest } = options as Omit<StepOptions, "pipe"> & { pipe?: unknown; client?: unknown };
  if ("client" in rest) {
    throw new InvalidInputError(`${where}: give client to .enqueue({ client }), not to a step`);
  }
  checkOptionKeys(rest, STEP_OPTION_KEYS, "step option", where);
  if (pipe !== undefined && typeof pipe !== "boolean") {
    throw new InvalidInputError(`${where}: pipe must be true or false`);
  }
  if (pipe === true && !chainStep) {
    throw new InvalidInputError(`${where}: pipe: true is only for chain steps`);
  }
  return { item: [definition, args, rest] as unknown as AnyItem, pipe: pipe === true };
}
