import type { Logger } from 'winston';
import type { RunLog } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { IterationUpdate, RunStorage, UpdateResult } from '../../ports/storage';
import { errorStack } from '../../util/safe-string';
import { Batcher, type ItemFailure } from './batcher';
import type { StorageGate } from './storage-gate';

/** A run log line on its way to storage, with its definition's cap of lines per run. */
export interface LogLine {
  line: RunLog;
  cap: number;
}

/**
 * The batchers that group the node's storage calls: one write (or read) serves every caller of
 * one tick. Each waits for storage to be open (see StorageGate.whenOpen), never reopening it.
 */
export class WriteBatches {
  readonly inserts: Batcher<RunRecord, { run: RunRecord; created: boolean }>;
  readonly updates: Batcher<IterationUpdate, UpdateResult>;
  readonly logs: Batcher<LogLine, undefined>;
  /**
   * Looks of concurrent wait() calls (and notices of runs ended elsewhere), grouped into one
   * read: each id resolves with its run once it has ended, null when no such run is stored,
   * undefined while it has not ended.
   */
  readonly reads: Batcher<string, RunRecord | null | undefined>;

  constructor(
    storage: RunStorage,
    gate: StorageGate,
    logger: Logger,
    /** the grouped insert of new runs (see RunSubmission.insert) */
    insert: (runs: RunRecord[]) => Promise<Array<{ run: RunRecord; created: boolean } | ItemFailure>>,
  ) {
    const reportSinkError = (err: unknown) => logger.error('tasklane: a callback of a batched storage call threw; ignored', { error: errorStack(err) });
    this.inserts = new Batcher(insert, 500, reportSinkError);
    this.updates = new Batcher(
      async (updates) => {
        if (!gate.isReady) await gate.whenOpen();
        return storage.updateIterations(updates);
      },
      500,
      reportSinkError,
    );
    this.reads = new Batcher<string, RunRecord | null | undefined>(
      async (ids) => {
        if (!gate.isReady) await gate.whenOpen();
        const { ended, missing } = await storage.getEndedRuns([...new Set(ids)]);
        const found = new Map<string, RunRecord | null>();
        for (const run of ended) found.set(run.id, run);
        for (const id of missing) found.set(id, null);
        return ids.map((id) => found.get(id));
      },
      500,
      reportSinkError,
    );
    this.logs = new Batcher<LogLine, undefined>(
      async (lines) => {
        if (!gate.isReady) await gate.whenOpen();
        // lines of definitions with different caps are written separately, each under its own cap
        const byCap = new Map<number, RunLog[]>();
        for (const { line, cap } of lines) {
          let list = byCap.get(cap);
          if (!list) byCap.set(cap, (list = []));
          list.push(line);
        }
        for (const [cap, list] of byCap) await storage.appendLogs(list, cap);
        return lines.map(() => undefined);
      },
      1000,
      reportSinkError,
    );
  }

  /** every grouped call under way has settled */
  async drain(): Promise<void> {
    await Promise.all([this.inserts.drain(), this.logs.drain(), this.updates.drain(), this.reads.drain()]);
  }
}
