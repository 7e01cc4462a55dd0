import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskContext } from '../../api/types';

const storage = new AsyncLocalStorage<TaskContext>();

/**
 * Runs `fn` with `context` as the current task context: runs triggered inside it carry the
 * context to whichever node executes them, and it is current again inside their `run()`.
 */
export function runWithContext<T>(context: TaskContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context set by the innermost runWithContext, or undefined. */
export function currentContext(): TaskContext | undefined {
  return storage.getStore();
}
