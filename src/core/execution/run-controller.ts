import {
  responses,
  type ChildTriggerOptions,
  type TaskController,
  type TaskLocals,
  type TaskLog,
  type TaskRuntime,
  type TaskStore,
} from '../../api/controller';
import { InvalidArgumentError, TasklaneError } from '../../api/errors';
import type { ProgressUpdate, TaskRun } from '../../api/types';
import { checkDuration } from '../../util/duration';
import { describeKind } from '../../util/safe-string';
import type { Execution } from './execution';
import { RunLocals } from './run-locals';
import type { ControllerServices } from './controller-services';
import { readProperty } from '../validation/arguments';
import { assertValueKey } from '../validation/identifiers';
import { copyJsonData } from '../validation/json-data';

/** What a controller needs from the executor that made it. */
export interface ControllerHost {
  services: ControllerServices;
  progress(exec: Execution, progress: ProgressUpdate): void;
  trigger(options: ChildTriggerOptions, exec: Execution): Promise<TaskRun>;
}

/**
 * The controller handed to run(): one object per iteration, its parts made on first use (most
 * runs touch few of them; this is the hot path).
 */
export class RunController implements TaskController<unknown, unknown> {
  readonly response = responses as TaskController<unknown, unknown>['response'];
  private runtimePart?: TaskRuntime;
  private logPart?: TaskLog;
  private storePart?: TaskStore;
  private localsPart?: TaskLocals;

  constructor(
    private readonly exec: Execution,
    private readonly host: ControllerHost,
  ) {}

  get runtime(): TaskRuntime {
    if (!this.runtimePart) {
      const { exec, host } = this;
      const timeout = exec.def?.iterationTimeout ?? 0;
      this.runtimePart = {
        isAborted: () => exec.abortRequested,
        isCloseToTimeout: (marginMs?: number) => {
          if (timeout <= 0) return false;
          const margin = typeof marginMs === 'number' && marginMs >= 0 ? marginMs : timeout / 10;
          return exec.deadline - host.services.clock.now() < margin;
        },
      };
    }
    return this.runtimePart;
  }

  /** fires on abort (an AbortError) and when the iteration times out (a TimeoutError) */
  get signal(): AbortSignal {
    return this.exec.signal;
  }

  get log(): TaskLog {
    if (!this.logPart) {
      const { exec, host } = this;
      this.logPart = {
        info: (message, data) => host.services.runLog.log(exec.def, exec.run, 'info', message, data),
        warn: (message, data) => host.services.runLog.log(exec.def, exec.run, 'warn', message, data),
        error: (message, data) => host.services.runLog.log(exec.def, exec.run, 'error', message, data),
      };
    }
    return this.logPart;
  }

  get store(): TaskStore {
    if (!this.storePart) {
      const { exec, host } = this;
      const runId = exec.run.id;
      const maxInputBytes = exec.def?.maxInputBytes ?? host.services.options.maxInputBytes;
      this.storePart = {
        get: async <T>(key: string) => (await host.services.storage.getValue(runId, assertValueKey(key, 'store'))) as T | undefined,
        set: async <T>(key: string, value: T) => {
          const checked = assertValueKey(key, 'store');
          // the checked copy is stored: nothing of the task's own objects is kept
          const copy = copyJsonData(value, { maxInputBytes, maxDepth: 64 }, `store value "${checked.slice(0, 64)}"`);
          if (exec.detached) throw new TasklaneError('LEASE_LOST', `Run ${runId} no longer holds its lease; store.set refused`);
          await host.services.storage.setValue(runId, checked, copy);
        },
      };
    }
    return this.storePart;
  }

  /** the definition's locals (see TaskLocals) */
  get locals(): TaskLocals {
    return (this.localsPart ??= new RunLocals(this.exec, this.host.services));
  }

  progress(progress: ProgressUpdate): void {
    this.host.progress(this.exec, readProgress(progress));
  }

  sleep(ms: number): Promise<boolean> {
    let checked: number;
    try {
      checked = checkDuration(ms, 'sleep(): ms');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.exec.sleep(checked);
  }

  trigger(options: ChildTriggerOptions): Promise<TaskRun> {
    return this.host.trigger(options, this.exec);
  }
}

/**
 * A progress report read once into its fields. A field of the wrong type is ignored (a NaN count
 * must not fail a run); `null` clears the field (see ProgressUpdate). Not an object, or an object
 * whose fields cannot be read: INVALID_ARGUMENT.
 */
function readProgress(progress: unknown): ProgressUpdate {
  if (typeof progress !== 'object' || progress === null)
    throw new InvalidArgumentError(`progress() takes { info?, current?, total? }, got ${describeKind(progress)}`);
  const out: ProgressUpdate = {};
  const info = readProperty(progress, 'info', 'progress(): info');
  if (info === null) out.info = null;
  else if (typeof info === 'string') out.info = info.slice(0, 1000);
  for (const field of ['current', 'total'] as const) {
    const v = readProperty(progress, field, `progress(): ${field}`);
    if (v === null) out[field] = null;
    else if (typeof v === 'number' && Number.isFinite(v)) out[field] = v;
  }
  return out;
}
