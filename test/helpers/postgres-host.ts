import type { AcceptRules } from '../../src/api/types';
import type { DistributionHost, FinishedNotice } from '../../src/ports/distribution';
import type { RunStorage } from '../../src/ports/storage';

/** A DistributionHost that records what the distribution tells it (for the PostgreSQL tests). */
export interface RecordingHost extends DistributionHost {
  wakes: number[];
  aborts: Array<{ id: string; at: number }>;
  finishes: Array<FinishedNotice & { at: number }>;
  restarts: Array<{ definitionId: string; at: number }>;
  errors: Error[];
  /** resolves at the first event matching `test` after now (or rejects after `timeoutMs`) */
  next<K extends 'wake' | 'abort' | 'finish' | 'restart' | 'error'>(kind: K, test?: (value: unknown) => boolean, timeoutMs?: number): Promise<number>;
}

export function recordingHost(nodeId: string, storage: RunStorage, accept: AcceptRules = {}): RecordingHost {
  const waiters: Array<{ kind: string; test: (v: unknown) => boolean; resolve: (at: number) => void }> = [];
  const emit = (kind: string, value: unknown) => {
    const at = performance.now();
    for (const w of [...waiters]) {
      if (w.kind === kind && w.test(value)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(at);
      }
    }
    return at;
  };
  const host: RecordingHost = {
    node: { nodeId, version: 'test', accept, startedOn: new Date().toISOString() },
    storage,
    now: () => Date.now(),
    wakes: [],
    aborts: [],
    finishes: [],
    restarts: [],
    errors: [],
    wake() {
      host.wakes.push(emit('wake', undefined));
    },
    abortRequested(id) {
      host.aborts.push({ id, at: emit('abort', id) });
    },
    finished(notice) {
      host.finishes.push({ ...notice, at: emit('finish', notice) });
    },
    definitionRestarted(definitionId) {
      host.restarts.push({ definitionId, at: emit('restart', definitionId) });
    },
    error(err) {
      host.errors.push(err);
      emit('error', err);
    },
    next(kind, test = () => true, timeoutMs = 5000) {
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`${nodeId}: no ${kind} within ${timeoutMs} ms`));
        }, timeoutMs);
        const entry = {
          kind,
          test,
          resolve: (at: number) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
        waiters.push(entry);
      });
    },
  };
  return host;
}
