import type { TaskLocals } from '../../api/controller';
import { InvalidArgumentError, StorageError, TaskAbortedError, TaskLocalConflictError, TasklaneError } from '../../api/errors';
import type { LocalWriteResult } from '../../ports/storage';
import type { Execution } from './execution';
import type { ControllerServices } from './controller-services';
import { assertValueKey } from '../validation/identifiers';
import { validateJsonData } from '../validation/json-data';

/** compare-and-set rounds an update() may lose in a row before it gives up (see TaskLocals.update) */
export const MAX_LOCAL_UPDATE_ATTEMPTS = 1000;
/** the longest pause between two rounds, ms: each pause is drawn up to an exponentially growing bound */
const MAX_CONFLICT_PAUSE_MS = 100;

/**
 * `controller.locals` of one iteration: the definition's locals in storage (see TaskLocals).
 * Every write names the run writing it, so that storage refuses the writes of a run that a
 * restart of its definition has aborted (`restarted`): such a run sees its abort at once (its
 * signal fires) and the call rejects with TaskAbortedError; a run() that lets that error through
 * ends `aborted`, as if it had answered `aborted()`.
 */
export class RunLocals implements TaskLocals {
  private readonly definitionId: string;
  private readonly maxBytes: number;

  constructor(
    private readonly exec: Execution,
    private readonly services: ControllerServices,
  ) {
    this.definitionId = exec.run.definitionId;
    this.maxBytes = exec.def?.maxInputBytes ?? services.options.maxInputBytes;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = await this.services.storage.readLocal(this.definitionId, assertValueKey(key, 'locals'));
    return entry.value as T | undefined;
  }

  async set<T>(key: string, value: T | undefined): Promise<void> {
    const checked = this.check(key, value);
    this.assertHeld();
    this.settle(await this.services.storage.writeLocal({ definitionId: this.definitionId, key: checked, value, writerRunId: this.exec.run.id }));
  }

  async update<T>(key: string, fn: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined> {
    const checked = assertValueKey(key, 'locals');
    if (typeof fn !== 'function') throw new InvalidArgumentError('locals.update(key, fn): fn must be a function');
    const storage = this.services.storage;
    for (let attempt = 1; attempt <= MAX_LOCAL_UPDATE_ATTEMPTS; attempt++) {
      const current = await storage.readLocal(this.definitionId, checked);
      // a throwing fn rejects update() before anything is written
      const next = await fn(current.value as T | undefined);
      this.check(checked, next);
      this.assertHeld();
      const result = await storage.writeLocal({
        definitionId: this.definitionId,
        key: checked,
        value: next,
        expectedVersion: current.version,
        writerRunId: this.exec.run.id,
      });
      if (result.ok || result.reason === 'restarted') {
        this.settle(result);
        return next;
      }
      // Another writer got there first: read again after a short random pause, drawn up to a
      // bound that doubles with each lost round, so writers that collided spread out rather than
      // colliding again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(MAX_CONFLICT_PAUSE_MS, 2 ** Math.min(attempt, 7))));
    }
    throw new TaskLocalConflictError(this.definitionId, checked, MAX_LOCAL_UPDATE_ATTEMPTS);
  }

  /** the key, and the value as any stored JSON data is checked; a refusal writes nothing */
  private check(key: unknown, value: unknown): string {
    const checked = assertValueKey(key, 'locals');
    validateJsonData(value, { maxInputBytes: this.maxBytes, maxDepth: 64 }, `local "${checked.slice(0, 64)}"`);
    return checked;
  }

  /** a run that lost its lease (another node took it over) writes nothing more */
  private assertHeld(): void {
    if (this.exec.detached) throw new TasklaneError('LEASE_LOST', `Run ${this.exec.run.id} no longer holds its lease; the locals write was refused`);
  }

  private settle(result: LocalWriteResult): void {
    if (result.ok) return;
    if (result.reason === 'restarted') {
      const message = `the definition "${this.definitionId}" was restarted`;
      // the restart aborts the run too, with its own message: that one is the run's (given to this
      // node's signal, or read from storage when the run ends); this one only when none is known
      this.exec.abortFallbackMessage ??= message;
      this.exec.requestAbort();
      throw new TaskAbortedError(this.exec.run.id, `${message}; its locals write was refused`);
    }
    // the port says an unconditional write never conflicts: a storage that answers so is broken
    throw new StorageError(`The storage answered a conflict to an unconditional write of a local of "${this.definitionId}"`);
  }
}
