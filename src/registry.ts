/** The process-wide registry of task definitions, by name (the worker runs only registered tasks). */

import type { TaskDefinition } from "./definition.js";
import { InvalidInputError } from "./errors.js";

const tasks = new Map<string, TaskDefinition>();

export function registerTask(definition: TaskDefinition): void {
  const existing = tasks.get(definition.name);
  if (existing && existing.handler !== definition.handler) {
    throw new InvalidInputError(
      `task "${definition.name}" is defined twice with different handlers; task names must be unique`,
    );
  }
  tasks.set(definition.name, definition);
}

export function getTask(name: string): TaskDefinition | undefined {
  return tasks.get(name);
}

export function registeredTasks(): TaskDefinition[] {
  return [...tasks.values()];
}

/** Forgets every definition (for tests that define tasks repeatedly). */
export function clearRegistry(): void {
  tasks.clear();
}
