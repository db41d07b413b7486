/**
 * task(): typed task definitions. The handler's parameter types become .enqueue()'s types;
 * .using() returns a configured copy carrying per-enqueue options (the seed's reserved kwargs).
 */
import type { TaskContext } from "./context.js";
import {
  type ConfiguredTask,
  checkEnqueueOptionKeys,
  type EnqueueOptions,
  TASK_NAME,
  type TaskDefinition,
  type TaskOptions,
  validateOptions,
} from "./definition.js";
import { InvalidInputError } from "./errors.js";
import type { RunIdInput } from "./ids.js";
import { registerTask } from "./registry.js";
import { getBackend } from "./runtime.js";

export type {
  ConcurrencyOption,
  ConfiguredTask,
  Enqueueable,
  EnqueueOptions,
  TaskDefinition,
  TaskOptions,
} from "./definition.js";
export {
  timeoutToSeconds,
  validateConcurrencyLimit,
  validateMaxAttempts,
  validatePriority,
  validateQueueName,
} from "./definition.js";

function makeConfigured<A extends unknown[], R>(
  definition: TaskDefinition<A, R>,
  enqueueOptions: EnqueueOptions<A>,
): ConfiguredTask<A, R> {
  const frozen = Object.freeze({ ...enqueueOptions });
  return {
    definition,
    enqueueOptions: frozen,
    enqueue: async (...args: A) => getBackend().enqueue(definition, args, frozen),
    using: (more: EnqueueOptions<A>) => withOptions(definition, frozen, more),
  };
}

/** `.using(more)`: unknown keys are refused here, where they were written, not at enqueue. */
function withOptions<A extends unknown[], R>(
  definition: TaskDefinition<A, R>,
  base: EnqueueOptions<A>,
  more: EnqueueOptions<A>,
): ConfiguredTask<A, R> {
  checkEnqueueOptionKeys(more, `task "${definition.name}" .using()`);
  return makeConfigured(definition, { ...base, ...more });
}

type Handler<A extends unknown[], R> = (...args: A) => R;
type ContextHandler<A extends unknown[], R> = (ctx: TaskContext, ...args: A) => R;

export function task<A extends unknown[], R>(
  name: string,
  handler: Handler<A, R>,
): TaskDefinition<A, Awaited<R>>;
export function task<A extends unknown[], R>(
  name: string,
  options: NoInfer<TaskOptions<A>> & { takesContext: true },
  handler: ContextHandler<A, R>,
): TaskDefinition<A, Awaited<R>>;
export function task<A extends unknown[], R>(
  name: string,
  options: NoInfer<TaskOptions<A>> & { takesContext?: false },
  handler: Handler<A, R>,
): TaskDefinition<A, Awaited<R>>;
export function task(
  name: string,
  optionsOrHandler: TaskOptions | ((...args: never[]) => unknown),
  maybeHandler?: (...args: never[]) => unknown,
): TaskDefinition {
  if (typeof name !== "string" || !TASK_NAME.test(name)) {
    throw new InvalidInputError(
      `task name ${JSON.stringify(name)} is not valid; use a stable dotted path such as "emails.send" (letters, digits, _ . : / -)`,
    );
  }
  if (typeof optionsOrHandler === "function" && maybeHandler !== undefined) {
    throw new InvalidInputError(
      `task "${name}": the options go before the handler: task(name, options, handler)`,
    );
  }
  const options: TaskOptions = typeof optionsOrHandler === "function" ? {} : (optionsOrHandler ?? {});
  const handler = typeof optionsOrHandler === "function" ? optionsOrHandler : maybeHandler;
  if (typeof handler !== "function") {
    throw new InvalidInputError(`task "${name}": the last argument must be the handler function`);
  }
  validateOptions(name, options);
  const definition: TaskDefinition = {
    name,
    options: Object.freeze({ ...options }),
    takesContext: options.takesContext === true,
    handler,
    get definition() {
      return definition;
    },
    enqueue: async (...args: unknown[]) => getBackend().enqueue(definition, args, {}),
    using: (enqueueOptions: EnqueueOptions) => withOptions(definition, {}, enqueueOptions),
    getResult: async (id: RunIdInput) => getBackend().getResult(id),
  };
  registerTask(definition);
  return definition;
}
