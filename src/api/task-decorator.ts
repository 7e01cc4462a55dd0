import { injectable } from 'inversify';
import type { TaskOptions } from './task-options';
import { setTaskOptions } from './task-metadata';

/**
 * Marks a class as a task definition. The class becomes injectable (no separate `@injectable()`
 * needed, though adding one is allowed). Options are checked when the class is registered:
 * a broken definition is registered in the `fault` state rather than throwing here.
 */
export function Task<I = unknown>(options: TaskOptions<I>): ClassDecorator {
  return (target) => {
    setTaskOptions(target, options as TaskOptions<unknown>);
    try {
      injectable()(target as unknown as abstract new (...args: never[]) => unknown);
    } catch {
      // already @injectable(): inversify refuses a second decoration, which is fine here
    }
  };
}
