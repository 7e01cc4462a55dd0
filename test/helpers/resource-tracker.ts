import { createHook } from 'node:async_hooks';
import { sep } from 'node:path';

/**
 * What a test leaves running, told apart from what jest runs beside it. Counting
 * `process.getActiveResourcesInfo()` alone is not enough in band: jest's reporter arms timers of
 * its own while a test runs, so a count taken before and after can grow without any leak.
 *
 * - `timers()`: the timers and immediates created by tasklane's code (src/) since start() that are
 *   still armed (neither fired nor cleared), each with the first frame of src/ that made it;
 * - `handles()`: the resources other than timers and immediates (sockets, file requests, ...), as
 *   getActiveResourcesInfo names them; jest's own pipes and TTYs excluded; `newHandles()` those
 *   of them that were not there at start().
 */
export function trackResources(): { timers(): string[]; handles(): string[]; newHandles(): string[]; stop(): void } {
  const made = new Map<number, { timer: { _destroyed?: boolean }; where: string }>();
  const srcDir = `${sep}src${sep}`;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type !== 'Timeout' && type !== 'Immediate') return;
      const frame = new Error().stack?.split('\n').find((line) => line.includes(srcDir));
      if (frame) made.set(id, { timer: resource as { _destroyed?: boolean }, where: `${type} ${frame.trim()}` });
    },
  });
  hook.enable();
  const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate' && r !== 'TTYWrap' && r !== 'PipeWrap');
  const before = handles();
  return {
    timers: () => [...made.values()].filter((t) => t.timer._destroyed === false).map((t) => t.where),
    handles,
    /** the handles now that were not there at start() (one each: a count, not a set) */
    newHandles: () => {
      const left = [...before];
      return handles().filter((h) => {
        const i = left.indexOf(h);
        if (i < 0) return true;
        left.splice(i, 1);
        return false;
      });
    },
    stop: () => hook.disable(),
  };
}
