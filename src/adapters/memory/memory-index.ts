import { InvalidArgumentError } from '../../api/errors';
import type { RunLog, RunStatus } from '../../api/types';
import { isFinished } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import { assertStatus } from '../shared/record-checks';
import { DefState } from './def-state';
import { Entry } from './entry';
import { Row } from './row';
import { RowFifo } from './row-fifo';

/**
 * The memory storage's data and its indexes, with the changes that keep them in step (a row's
 * status, queue, lease, finish, removal). The storage's operations (insert-runs.ts,
 * claim-runs.ts, iterations.ts, ...) read and change it through these.
 *
 * Layout (all user-named things in `Map`s):
 * - `runs`: id -> the stored row (O(1) get).
 * - per definition: counters of pending and running runs, the set of leased runs, and per target
 *   node (`undefined` = any node) three queues: `ready` (pending, due at the last look, sorted by
 *   id), `delayed` (pending, not due at the last look, a heap by dueAt) and `parked` (running
 *   without a lease, a heap by dueAt).
 * - `blocked`: pending runs waiting for their `after` run, keyed by that run's id; released when
 *   it finishes.
 * - `childrenOf`: parent id -> its children's ids, so listing a run's children (abort of a
 *   parent) reads those only, not every run.
 * A claim touches only what it takes (plus the dead entries it drops), never the backlog: with
 * 100,000 pending runs a claim of 10 costs the same as with 10.
 *
 * Queues use lazy deletion: every change of a row's place (claimed, parked, released, finished,
 * deleted) bumps `row.ver`, and a queue entry is live only while its `ver` matches, so no entry is
 * ever searched for.
 *
 * Retention (see MemoryStorage): finished rows are remembered in the order they finished, and the
 * oldest beyond `maxFinishedRuns` removed as each run finishes. Ids of removed runs leave the
 * sorted id lists lazily: they are skipped when read, and the lists are compacted once dead ids
 * outnumber live ones.
 */
export class MemoryIndex {
  readonly runs = new Map<string, Row>();
  readonly defs = new Map<string, DefState>();
  /** run id sorted ascending, for listRuns (newest first = read from the end) */
  allIds: string[] = [];
  /** parent run id -> ids of its children (listRuns by parent reads only these) */
  readonly childrenOf = new Map<string, Set<string>>();
  /** definition id -> unfinished run with that key */
  readonly keys = new Map<string, Map<string, Row>>();
  /** after-run id -> entries of the pending runs waiting for it */
  readonly blocked = new Map<string, Entry[]>();
  readonly logs = new Map<string, RunLog[]>();
  readonly values = new Map<string, Map<string, unknown>>();
  readonly disabled = new Set<string>();
  /** definition id -> its locals: key -> value (undefined: deleted or cleared) and version */
  readonly locals = new Map<string, Map<string, { value: unknown; version: number }>>();
  /** definition id -> its restart cut-off (a run id: runs below it were restarted) */
  readonly cutoffs = new Map<string, string>();
  readonly ticks = new Map<string, Set<string>>();
  /** schedule id -> the latest tick recorded */
  readonly latestTicks = new Map<string, string>();
  /** the latest `now` a claim was made with: a hint only (due or not is always re-checked) */
  clockHint = 0;
  /** finished rows in the order they finished (entries of removed rows are skipped) */
  readonly finishedOrder = new RowFifo();
  /** finished rows stored */
  finishedCount = 0;
  /** ids in `allIds` whose run was removed */
  deadIds = 0;

  /** @param maxFinishedRuns finished runs kept at most (validated by MemoryStorage) */
  constructor(readonly maxFinishedRuns: number) {}

  lookup(id: string): Row | undefined {
    return this.runs.get(id);
  }

  /** a pending run waits for its unfinished `after` run */
  block(entry: Entry, afterId: string): void {
    const list = this.blocked.get(afterId);
    if (list) list.push(entry);
    else this.blocked.set(afterId, [entry]);
  }

  defState(definitionId: string): DefState {
    let def = this.defs.get(definitionId);
    if (!def) {
      def = new DefState(definitionId);
      this.defs.set(definitionId, def);
    }
    return def;
  }

  keyMap(definitionId: string): Map<string, Row> {
    let map = this.keys.get(definitionId);
    if (!map) {
      map = new Map();
      this.keys.set(definitionId, map);
    }
    return map;
  }

  setStatus(row: Row, status: RunStatus): void {
    const def = row.def;
    if (row.status === 'pending') def.pending--;
    else if (row.status === 'running') def.running--;
    if (status === 'pending') def.pending++;
    else if (status === 'running') def.running++;
    row.status = status;
  }

  /** puts a pending run where a claim will find it: blocked, ready or delayed */
  enqueuePending(row: Row, hint: number): void {
    const entry = new Entry(row, ++row.ver, row.dueAt);
    if (row.after !== undefined) {
      const after = this.runs.get(row.after);
      if (after && !isFinished(after.status)) {
        this.block(entry, row.after);
        return;
      }
    }
    const bucket = row.def.bucket(row.targetNodeId);
    if (row.dueAt <= hint) bucket.ready.push(entry);
    else bucket.delayed.push(entry);
  }

  park(row: Row): void {
    row.def.bucket(row.targetNodeId).parked.push(new Entry(row, ++row.ver, row.dueAt));
  }

  addLease(row: Row): void {
    row.ver++; // out of every queue
    const def = row.def;
    def.leased.add(row);
    const expires = row.leaseExpiresAt ?? 0;
    if (expires < def.leaseMin) def.leaseMin = expires;
  }

  dropLease(row: Row): void {
    row.def.leased.delete(row);
    row.leaseToken = undefined;
    row.leaseExpiresAt = undefined;
  }

  finish(row: Row, status: RunStatus, finishedOn: string): void {
    if (row.leaseToken !== undefined) this.dropLease(row);
    this.setStatus(row, status);
    row.finishedOn = finishedOn;
    row.ver++;
    if (row.key !== undefined) {
      const map = this.keys.get(row.definitionId);
      if (map?.get(row.key) === row) map.delete(row.key);
    }
    const waiting = this.blocked.get(row.id);
    if (waiting) {
      this.blocked.delete(row.id);
      const hint = Math.max(this.clockHint, Date.now());
      for (const entry of waiting) if (entry.live()) this.enqueuePending(entry.row, hint);
    }
    this.retain(row);
  }

  /** a run has just been stored finished: the oldest finished runs beyond the bound go */
  retain(row: Row): void {
    this.finishedOrder.push(row);
    this.finishedCount++;
    while (this.finishedCount > this.maxFinishedRuns) {
      const oldest = this.finishedOrder.shift();
      if (oldest === undefined) break;
      if (this.runs.get(oldest.id) === oldest) this.remove(oldest);
    }
  }

  /** forgets a finished run with its logs and values */
  remove(row: Row): void {
    row.ver++;
    this.runs.delete(row.id);
    if (row.parentId !== undefined) {
      const siblings = this.childrenOf.get(row.parentId);
      siblings?.delete(row.id);
      if (siblings?.size === 0) this.childrenOf.delete(row.parentId);
    }
    this.logs.delete(row.id);
    this.values.delete(row.id);
    this.finishedCount--;
    const def = row.def;
    if (++def.deadIds > 1024 && def.deadIds * 2 > def.ids.length) {
      def.ids = def.ids.filter((id) => this.runs.has(id));
      def.deadIds = 0;
    }
    if (++this.deadIds > 1024 && this.deadIds * 2 > this.allIds.length) {
      this.allIds = this.allIds.filter((id) => this.runs.has(id));
      this.deadIds = 0;
    }
  }

  toRow(r: RunRecord): Row {
    if (typeof r.id !== 'string' || typeof r.definitionId !== 'string') {
      throw new InvalidArgumentError('A run record needs a string id and definitionId.');
    }
    assertStatus(r.status);
    const row = new Row(r, this.defState(r.definitionId));
    return row;
  }
}
