import type { TaskOptions } from './task-options';

const OPTIONS = Symbol.for('tasklane.task.options');
const DEPENDENCIES = Symbol.for('tasklane.task.dependencies');

/** Stores the options of a task class; read back by the registry, which checks them. */
export function setTaskOptions(target: object, options: TaskOptions<never> | TaskOptions<unknown>, dependencies?: unknown[]): void {
  Object.defineProperty(target, OPTIONS, { value: options, configurable: true });
  if (dependencies) Object.defineProperty(target, DEPENDENCIES, { value: dependencies, configurable: true });
}

export function getTaskOptions(target: unknown): TaskOptions<unknown> | undefined {
  if (typeof target !== 'function') return undefined;
  return Object.prototype.hasOwnProperty.call(target, OPTIONS) ? (target as unknown as Record<symbol, TaskOptions<unknown>>)[OPTIONS] : undefined;
}

/** Explicit constructor dependencies (createImplementation); undefined = use decorator metadata. */
export function getTaskDependencies(target: unknown): unknown[] | undefined {
  if (typeof target !== 'function') return undefined;
  return Object.prototype.hasOwnProperty.call(target, DEPENDENCIES) ? (target as unknown as Record<symbol, unknown[]>)[DEPENDENCIES] : undefined;
}
