import type { TaskResponse, TaskRunParams } from './controller';
import type { RunError, TaskContext, TaskRun } from './types';
import type { TaskOptions } from './task-options';
import { setTaskOptions } from './task-metadata';

export interface BeforeTriggerParams<I> {
  input: Readonly<I>;
  definitionId: string;
  name: string;
  context?: TaskContext;
  parentId?: string;
}

/**
 * What a task class implements. Only `run()` is required; the hooks are called once each,
 * before the run's end is announced, and a hook that throws is logged and changes nothing.
 */
export interface TaskDefinition<I = unknown, O = unknown> {
  run(params: TaskRunParams<I, O>): Promise<TaskResponse<O>> | TaskResponse<O>;
  /** throws = the trigger is refused and nothing is stored */
  onBeforeTrigger?(params: BeforeTriggerParams<I>): Promise<void> | void;
  onDone?(params: { run: TaskRun<O> }): Promise<void> | void;
  onError?(params: { run: TaskRun<O>; error: RunError }): Promise<void> | void;
  onAbort?(params: { run: TaskRun<O> }): Promise<void> | void;
  onMaxIterations?(params: { run: TaskRun<O> }): Promise<void> | void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskClass<I = any, O = any> = new (...args: any[]) => TaskDefinition<I, O>;

export type InputOf<D> = D extends new (...args: never[]) => TaskDefinition<infer I, unknown> ? I : unknown;
export type OutputOf<D> = D extends new (...args: never[]) => TaskDefinition<unknown, infer O> ? O : unknown;

export interface CreateImplementationOptions<I, O> {
  implementation: new (...args: never[]) => TaskDefinition<I, O>;
  /** service identifiers injected, in order, into the implementation's constructor */
  dependencies?: unknown[];
  meta: TaskOptions<I>;
}

/** Tasks written without decorators (the seeds' style). Returns the registrable class. */
function createImplementation<I, O>(options: CreateImplementationOptions<I, O>): TaskClass<I, O> {
  const { implementation, dependencies = [], meta } = options;
  setTaskOptions(implementation, meta, dependencies);
  return implementation as unknown as TaskClass<I, O>;
}

export const TaskDefinition = { createImplementation };
