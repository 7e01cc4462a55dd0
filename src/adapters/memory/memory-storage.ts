import { InvalidArgumentError } from '../../api/errors';
import { assertStatus, LOG_TYPES } from '../shared/record-checks';
import { pageLimit, parseLogCursor } from '../shared/paging';
import type { RetryPolicy } from '../../api/retry-policy';
import type { ListLogsQuery, Page, RunError, RunLog, RunProgress, RunStatus, TaskContext } from '../../api/types';
import { isFinished } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type {
  AbortResult,
  AbortRunsRequest,
  AbortRunsResult,
  ClaimRequest,
  ClaimSlot,
  DeleteRunResult,
  EndedRuns,
  IterationUpdate,
  LeaseRenewal,
  LocalEntry,
  LocalWrite,
  LocalWriteResult,
  RenewResult,
  RunStorage,
  StorageCapabilities,
  StorageListRunsQuery,
  UpdateResult,
} from '../../ports/storage';
import { newToken } from '../../util/ids';

/**
 * In-process storage: the reference implementation of {@link RunStorage}, and the fast one
 * (insert + claim + complete ~5 µs per run in batches of 100).
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
 * Retention: the newest {@link MemoryStorageOptions.maxFinishedRuns} finished runs are kept (10,000
 * by default), older ones are forgotten with their logs and store values, oldest finish first, so
 * a long-lived process does not grow without end (as BullMQ's `removeOnComplete: { count }`). A
 * forgotten run is as if deleted by `deleteFinishedBefore`: `getRun` gives null, and a run waiting
 * for it with `after` may start. Ids of removed runs leave the sorted id lists lazily: they are
 * skipped when read, and the lists are compacted once dead ids outnumber live ones.
 *
 * Isolation: records and values are stored as JSON-normalised deep copies and handed out as
 * copies. {@link cloneJson} does this by hand with exactly JSON's semantics, `__proto__` keys
 * included: 0.33 µs for a small input, where structuredClone takes 2.4 µs and a JSON round trip 1.3.
 */
export class MemoryStorage implements RunStorage {
  readonly capabilities: StorageCapabilities = Object.freeze({ durable: false, shared: false, transactions: false });
  /** finished runs kept at most (see the class comment) */
  readonly maxFinishedRuns: number;

  private readonly runs = new Map<string, Row>();
  private readonly defs = new Map<string, DefState>();
  /** run id sorted ascending, for listRuns (newest first = read from the end) */
  private allIds: string[] = [];
  /** parent run id -> ids of its children (listRuns by parent reads only these) */
  private readonly childrenOf = new Map<string, Set<string>>();
  /** definition id -> unfinished run with that key */
  private readonly keys = new Map<string, Map<string, Row>>();
  /** after-run id -> entries of the pending runs waiting for it */
  private readonly blocked = new Map<string, Entry[]>();
  private readonly logs = new Map<string, RunLog[]>();
  private readonly values = new Map<string, Map<string, unknown>>();
  private readonly disabled = new Set<string>();
  /** definition id -> its locals: key -> value (undefined: deleted or cleared) and version */
  private readonly locals = new Map<string, Map<string, { value: unknown; version: number }>>();
  /** definition id -> its restart cut-off (a run id: runs below it were restarted) */
  private readonly cutoffs = new Map<string, string>();
  private readonly ticks = new Map<string, Set<string>>();
  /** schedule id -> the latest tick recorded */
  private readonly latestTicks = new Map<string, string>();
  /** the latest `now` a claim was made with: a hint only (due or not is always re-checked) */
  private clockHint = 0;
  /** finished rows in the order they finished (entries of removed rows are skipped) */
  private readonly finishedOrder = new RowFifo();
  /** finished rows stored */
  private finishedCount = 0;
  /** ids in `allIds` whose run was removed */
  private deadIds = 0;

  constructor(options: MemoryStorageOptions = {}) {
    const max = options.maxFinishedRuns ?? DEFAULT_MAX_FINISHED_RUNS;
    if (max !== Infinity && !(Number.isInteger(max) && max >= 0)) {
      throw new InvalidArgumentError(`memoryStorage: maxFinishedRuns must be a non-negative integer or Infinity, got ${String(max)}.`);
    }
    this.maxFinishedRuns = max;
  }

  async init(): Promise<void> {
    // nothing to connect to
  }

  async close(): Promise<void> {
    // nothing to release; the data stays readable (it is only lost with the process)
  }

  // ---------------------------------------------------------------- runs

  async insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    // normalise everything first: a value JSON cannot hold fails the call before anything is stored
    const rows = runs.map((r) => this.toRow(r));
    const hint = Math.max(this.clockHint, Date.now());
    const out: Array<{ run: RunRecord; created: boolean }> = [];
    for (const row of rows) {
      // ids are time-ordered: one above every id stored cannot be a retry of an insert
      const same = this.allIds.length > 0 && row.id <= this.allIds[this.allIds.length - 1] ? this.runs.get(row.id) : undefined;
      if (same) {
        out.push({ run: toRecord(same), created: false });
        continue;
      }
      const unfinished = !isFinished(row.status);
      if (row.key !== undefined && unfinished) {
        const existing = this.keys.get(row.definitionId)?.get(row.key);
        if (existing && !isFinished(existing.status)) {
          out.push({ run: toRecord(existing), created: false });
          continue;
        }
      }
      this.runs.set(row.id, row);
      insertSorted(this.allIds, row.id);
      insertSorted(row.def.ids, row.id);
      if (row.parentId !== undefined) {
        const siblings = this.childrenOf.get(row.parentId);
        if (siblings) siblings.add(row.id);
        else this.childrenOf.set(row.parentId, new Set([row.id]));
      }
      if (row.key !== undefined && unfinished) this.keyMap(row.definitionId).set(row.key, row);
      if (row.status === 'pending') {
        row.def.pending++;
        this.enqueuePending(row, hint);
      } else if (row.status === 'running') {
        row.def.running++;
        if (row.leaseToken === undefined) this.park(row);
        else this.addLease(row);
      }
      out.push({ run: toRecord(row), created: true });
      if (!unfinished) this.retain(row);
    }
    return out;
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const row = this.runs.get(id);
    return row ? toRecord(row) : null;
  }

  async getRuns(ids: string[]): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for (const id of ids) {
      const row = this.runs.get(id);
      if (row) out.push(toRecord(row));
    }
    return out;
  }

  async getEndedRuns(ids: string[]): Promise<EndedRuns> {
    const ended: RunRecord[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const row = this.runs.get(id);
      if (!row) missing.push(id);
      else if (isFinished(row.status)) ended.push(toRecord(row));
    }
    return { ended, missing };
  }

  async listRuns(query: StorageListRunsQuery): Promise<Page<RunRecord>> {
    const limit = pageLimit(query.limit);
    let ids: string[];
    if (query.definition !== undefined) {
      const def = this.defs.get(query.definition);
      if (!def) return { items: [] };
      ids = def.ids;
    } else if (query.parentId !== undefined) {
      const children = this.childrenOf.get(query.parentId);
      if (!children) return { items: [] };
      ids = [...children].sort(cmp);
    } else {
      ids = this.allIds;
    }
    const statuses = query.status === undefined ? undefined : new Set<RunStatus>(Array.isArray(query.status) ? query.status : [query.status]);
    const start = query.cursor === undefined ? ids.length - 1 : lowerBound(ids, query.cursor) - 1;
    const items: RunRecord[] = [];
    let cursor: string | undefined;
    for (let i = start; i >= 0; i--) {
      const row = this.runs.get(ids[i]);
      if (!row) continue;
      if (statuses && !statuses.has(row.status)) continue;
      if (query.parentId !== undefined && row.parentId !== query.parentId) continue;
      if (query.scheduled !== undefined && (row.scheduledFor !== undefined) !== query.scheduled) continue;
      if (items.length === limit) {
        cursor = items[items.length - 1].id;
        break;
      }
      items.push(toRecord(row));
    }
    return cursor === undefined ? { items } : { items, cursor };
  }

  async findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null> {
    const row = this.keys.get(definitionId)?.get(key);
    return row && !isFinished(row.status) ? toRecord(row) : null;
  }

  async countPending(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const def of this.defs.values()) if (def.pending > 0) out.set(def.id, def.pending);
    return out;
  }

  // ---------------------------------------------------------------- claims

  async claimRuns(request: ClaimRequest): Promise<RunRecord[]> {
    const { now, nodeId, leaseMs } = request;
    if (now > this.clockHint) this.clockHint = now;
    const limit = Math.floor(request.limit);
    if (!(limit > 0)) return [];
    const cursors: ClaimCursor[] = [];
    const seen = new Set<string>();
    for (const slot of request.slots) {
      if (seen.has(slot.definitionId) || !(slot.max >= 1)) continue;
      seen.add(slot.definitionId);
      const def = this.defs.get(slot.definitionId);
      if (def) cursors.push(new ClaimCursor(this, def, slot, request, this.disabled.has(def.id)));
    }
    const out: RunRecord[] = [];
    const tokenBase = newToken();
    const startedOn = new Date(now).toISOString();
    const leaseExpiresAt = now + leaseMs;
    // round-robin: one run from each definition in turn
    let active = cursors;
    while (active.length > 0 && out.length < limit) {
      const still: ClaimCursor[] = [];
      for (const cursor of active) {
        if (out.length >= limit) break;
        const found = cursor.next();
        if (!found) continue;
        const row = found.row;
        if (found.kind === 'pending') {
          this.setStatus(row, 'running');
          row.attempt++;
        } else if (found.kind === 'expired') {
          row.recoveries++;
          row.attempt++;
        }
        row.iterations++;
        // a run created before a restart of its definition (triggered while the restart ran) ends aborted
        if (this.cutoffs.size > 0 && !row.abortRequested && row.id < (this.cutoffs.get(row.definitionId) ?? '')) row.abortRequested = true;
        if (row.startedOn === undefined) row.startedOn = startedOn;
        row.nodeId = nodeId;
        row.leaseToken = tokenBase + out.length.toString(36);
        row.leaseExpiresAt = leaseExpiresAt;
        this.addLease(row);
        out.push(toRecord(row));
        if (cursor.taken < cursor.max) still.push(cursor);
      }
      active = still;
    }
    return out;
  }

  async updateIterations(updates: IterationUpdate[]): Promise<UpdateResult[]> {
    for (const u of updates) assertStatus(u.status);
    const hint = Math.max(this.clockHint, Date.now());
    const out: UpdateResult[] = [];
    for (const u of updates) {
      const row = this.runs.get(u.id);
      if (!row) {
        out.push({ ok: false, reason: 'not_found' });
        continue;
      }
      if (row.status !== 'running' || row.leaseToken === undefined || row.leaseToken !== u.leaseToken) {
        out.push({ ok: false, reason: 'lease_lost' });
        continue;
      }
      // normalise before touching the row: a failure leaves it as it was
      const input = u.input === undefined ? undefined : cloneJson(u.input);
      const output = u.output === undefined ? undefined : cloneJson(u.output);
      const error = u.error === undefined ? undefined : (cloneJson(u.error) as RunError);
      const progress = u.progress === undefined ? undefined : (cloneJson(u.progress) as RunProgress);

      this.dropLease(row);
      if (input !== undefined) {
        if (row.originalInput === undefined) row.originalInput = row.input;
        row.input = input;
      }
      if (output !== undefined) row.output = output;
      if (u.status === 'success') row.error = undefined; // a retried failure: the run did not fail
      else if (error !== undefined) row.error = error;
      if (progress !== undefined) row.progress = progress;
      if (u.dueAt !== undefined) row.dueAt = u.dueAt;
      if (u.unclaim) row.iterations = Math.max(0, row.iterations - 1);
      if (u.status === 'running') {
        this.park(row);
      } else if (u.status === 'pending') {
        if (u.retry) {
          row.retries++;
          row.iterationBase = row.iterations;
        }
        if (u.unclaim) {
          row.attempt = Math.max(0, row.attempt - 1);
          if (row.attempt === 0) {
            // a first claim given back: the run is as it was before it
            row.startedOn = undefined;
            row.nodeId = undefined;
          }
        }
        this.setStatus(row, 'pending');
        this.enqueuePending(row, hint);
      } else {
        this.finish(row, u.status, u.finishedOn ?? new Date().toISOString());
      }
      out.push({ ok: true, run: toRecord(row) });
    }
    return out;
  }

  async renewLeases(nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): Promise<RenewResult> {
    const lost: string[] = [];
    const abortRequested: string[] = [];
    const expires = now + leaseMs;
    for (const lease of leases) {
      const row = this.runs.get(lease.id);
      if (!row || row.status !== 'running' || row.leaseToken === undefined || row.leaseToken !== lease.leaseToken) {
        lost.push(lease.id);
        continue;
      }
      row.leaseExpiresAt = expires;
      if (expires < row.def.leaseMin) row.def.leaseMin = expires;
      if (row.abortRequested) abortRequested.push(row.id);
    }
    return { lost, abortRequested };
  }

  async requestAbort(id: string, message: string, now: string): Promise<AbortResult> {
    const row = this.runs.get(id);
    if (!row) return { kind: 'not_found' };
    if (isFinished(row.status)) return { kind: 'finished', run: toRecord(row) };
    if (row.status === 'running' && row.leaseToken !== undefined) {
      row.abortRequested = true;
      return { kind: 'requested', run: toRecord(row) };
    }
    row.error = { message: String(message), code: 'ABORTED' };
    this.finish(row, 'aborted', now);
    return { kind: 'aborted', run: toRecord(row) };
  }

  async saveProgress(id: string, progress: RunProgress): Promise<void> {
    const row = this.runs.get(id);
    if (row && row.status === 'running') row.progress = cloneJson(progress) as RunProgress;
  }

  // ---------------------------------------------------------------- logs

  async appendLogs(logs: RunLog[], maxPerRun: number): Promise<number> {
    const normalised = logs.map(toLog);
    let kept = 0;
    for (const log of normalised) {
      const row = this.runs.get(log.runId);
      if (!row || row.logCount >= maxPerRun) continue;
      let list = this.logs.get(log.runId);
      if (!list) {
        list = [];
        this.logs.set(log.runId, list);
      }
      list.push(log);
      row.logCount++;
      kept++;
    }
    return kept;
  }

  async listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    const limit = pageLimit(query.limit);
    const list = this.logs.get(query.runId) ?? [];
    const start = query.cursor === undefined ? 0 : parseLogCursor(query.cursor);
    const end = Math.min(list.length, start + limit);
    const items: RunLog[] = [];
    for (let i = start; i < end; i++) items.push(copyLog(list[i]));
    return end < list.length ? { items, cursor: String(end) } : { items };
  }

  // ---------------------------------------------------------------- values

  async getValue(runId: string, key: string): Promise<unknown | undefined> {
    const value = this.values.get(runId)?.get(key);
    return value === undefined ? undefined : cloneJson(value);
  }

  async setValue(runId: string, key: string, value: unknown): Promise<void> {
    const stored = cloneJson(value);
    let map = this.values.get(runId);
    if (stored === undefined) {
      map?.delete(key);
      return;
    }
    if (!map) {
      map = new Map();
      this.values.set(runId, map);
    }
    map.set(key, stored);
  }

  // ---------------------------------------------------------------- definitions, schedules

  async getDisabledDefinitions(): Promise<Set<string>> {
    return new Set(this.disabled);
  }

  async setDefinitionDisabled(definitionId: string, disabled: boolean): Promise<void> {
    if (disabled) this.disabled.add(definitionId);
    else this.disabled.delete(definitionId);
  }

  async recordScheduleTick(scheduleId: string, tick: string): Promise<boolean> {
    let set = this.ticks.get(scheduleId);
    if (!set) {
      set = new Set();
      this.ticks.set(scheduleId, set);
    }
    if (set.has(tick)) return false;
    set.add(tick);
    const latest = this.latestTicks.get(scheduleId);
    if (latest === undefined || tick > latest) this.latestTicks.set(scheduleId, tick);
    // a schedule's ticks come in order: the newest ones are all a duplicate can be of
    if (set.size > MAX_TICKS_KEPT) set.delete(set.values().next().value as string);
    return true;
  }

  async lastScheduleTick(scheduleId: string): Promise<string | null> {
    return this.latestTicks.get(scheduleId) ?? null;
  }

  async deleteFinishedBefore(before: string, limit: number): Promise<number> {
    const max = Math.floor(limit);
    if (!(max > 0)) return 0;
    // a maintenance call: one pass over the runs is acceptable here (claims never do this)
    const old: Row[] = [];
    for (const row of this.runs.values()) {
      if (isFinished(row.status) && row.finishedOn !== undefined && row.finishedOn < before) old.push(row);
    }
    old.sort((a, b) => cmp(a.finishedOn as string, b.finishedOn as string) || cmp(a.id, b.id));
    const doomed = old.slice(0, max);
    for (const row of doomed) this.remove(row);
    return doomed.length;
  }

  async deleteRun(id: string): Promise<DeleteRunResult> {
    const root = this.runs.get(id);
    if (!root) return { kind: 'not_found' };
    // the run and its descendants, breadth first; nothing is removed unless all have ended
    const doomed: Row[] = [root];
    for (let i = 0; i < doomed.length; i++) {
      const row = doomed[i];
      if (!isFinished(row.status)) return { kind: 'unfinished', run: toRecord(row) };
      for (const childId of this.childrenOf.get(row.id) ?? []) {
        const child = this.runs.get(childId);
        if (child) doomed.push(child);
      }
    }
    for (const row of doomed) this.remove(row);
    return { kind: 'deleted', ids: doomed.map((r) => r.id) };
  }

  // ---------------------------------------------------------------- locals, restarts

  async readLocal(definitionId: string, key: string): Promise<LocalEntry> {
    const entry = this.locals.get(definitionId)?.get(key);
    if (!entry) return { value: undefined, version: 0 };
    return { value: entry.value === undefined ? undefined : cloneJson(entry.value), version: entry.version };
  }

  async writeLocal(write: LocalWrite): Promise<LocalWriteResult> {
    const value = cloneJson(write.value); // normalised first: a value JSON cannot hold writes nothing
    const cutoff = this.cutoffs.get(write.definitionId);
    if (write.writerRunId !== undefined && cutoff !== undefined && write.writerRunId < cutoff) return { ok: false, reason: 'restarted' };
    let map = this.locals.get(write.definitionId);
    const entry = map?.get(write.key);
    const version = entry?.version ?? 0;
    if (write.expectedVersion !== undefined && write.expectedVersion !== version) return { ok: false, reason: 'conflict' };
    if (!map) this.locals.set(write.definitionId, (map = new Map()));
    map.set(write.key, { value, version: version + 1 });
    return { ok: true, version: version + 1 };
  }

  async listLocals(definitionId: string): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (const [key, entry] of this.locals.get(definitionId) ?? []) if (entry.value !== undefined) out.set(key, cloneJson(entry.value));
    return out;
  }

  async restartDefinition(definitionId: string, cutoff: string): Promise<{ localsCleared: number }> {
    const previous = this.cutoffs.get(definitionId);
    if (previous === undefined || cutoff > previous) this.cutoffs.set(definitionId, cutoff);
    let localsCleared = 0;
    for (const entry of this.locals.get(definitionId)?.values() ?? []) {
      if (entry.value === undefined) continue;
      entry.value = undefined;
      entry.version++;
      localsCleared++;
    }
    return { localsCleared };
  }

  async abortDefinitionRuns(request: AbortRunsRequest): Promise<AbortRunsResult> {
    const out: AbortRunsResult = { aborted: [], requested: [] };
    const def = this.defs.get(request.definitionId);
    const limit = Math.floor(request.limit);
    if (!def || !(limit > 0) || def.pending + def.running === 0) return out;
    // an operator's call: one pass over the definition's ids (claims never do this)
    for (const id of def.ids) {
      if (id >= request.before || out.aborted.length + out.requested.length >= limit) break;
      const row = this.runs.get(id);
      if (!row || row.def !== def || isFinished(row.status)) continue;
      if (row.status === 'running' && row.leaseToken !== undefined) {
        if (row.abortRequested) continue;
        row.abortRequested = true;
        out.requested.push(toRecord(row));
        continue;
      }
      row.error = { message: String(request.message), code: 'ABORTED' };
      this.finish(row, 'aborted', request.now);
      out.aborted.push(toRecord(row));
    }
    return out;
  }

  // ---------------------------------------------------------------- internals (used by ClaimCursor)

  /** @internal */
  lookup(id: string): Row | undefined {
    return this.runs.get(id);
  }

  /** @internal a pending run waits for its unfinished `after` run */
  block(entry: Entry, afterId: string): void {
    const list = this.blocked.get(afterId);
    if (list) list.push(entry);
    else this.blocked.set(afterId, [entry]);
  }

  private defState(definitionId: string): DefState {
    let def = this.defs.get(definitionId);
    if (!def) {
      def = new DefState(definitionId);
      this.defs.set(definitionId, def);
    }
    return def;
  }

  private keyMap(definitionId: string): Map<string, Row> {
    let map = this.keys.get(definitionId);
    if (!map) {
      map = new Map();
      this.keys.set(definitionId, map);
    }
    return map;
  }

  private setStatus(row: Row, status: RunStatus): void {
    const def = row.def;
    if (row.status === 'pending') def.pending--;
    else if (row.status === 'running') def.running--;
    if (status === 'pending') def.pending++;
    else if (status === 'running') def.running++;
    row.status = status;
  }

  /** puts a pending run where a claim will find it: blocked, ready or delayed */
  private enqueuePending(row: Row, hint: number): void {
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

  private park(row: Row): void {
    row.def.bucket(row.targetNodeId).parked.push(new Entry(row, ++row.ver, row.dueAt));
  }

  private addLease(row: Row): void {
    row.ver++; // out of every queue
    const def = row.def;
    def.leased.add(row);
    const expires = row.leaseExpiresAt ?? 0;
    if (expires < def.leaseMin) def.leaseMin = expires;
  }

  private dropLease(row: Row): void {
    row.def.leased.delete(row);
    row.leaseToken = undefined;
    row.leaseExpiresAt = undefined;
  }

  private finish(row: Row, status: RunStatus, finishedOn: string): void {
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
  private retain(row: Row): void {
    this.finishedOrder.push(row);
    this.finishedCount++;
    while (this.finishedCount > this.maxFinishedRuns) {
      const oldest = this.finishedOrder.shift();
      if (oldest === undefined) break;
      if (this.runs.get(oldest.id) === oldest) this.remove(oldest);
    }
  }

  /** forgets a finished run with its logs and values */
  private remove(row: Row): void {
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

  private toRow(r: RunRecord): Row {
    if (typeof r.id !== 'string' || typeof r.definitionId !== 'string') {
      throw new InvalidArgumentError('A run record needs a string id and definitionId.');
    }
    assertStatus(r.status);
    const row = new Row(r, this.defState(r.definitionId));
    return row;
  }
}

export interface MemoryStorageOptions {
  /**
   * Finished runs kept (default 10,000): beyond it the oldest finished are forgotten with their
   * logs and values. `Infinity` keeps every run until `deleteFinishedBefore` (the retention plugin).
   */
  maxFinishedRuns?: number;
}

const DEFAULT_MAX_FINISHED_RUNS = 10_000;
/** schedule ticks remembered per schedule (a tick every second: the last ~17 minutes) */
const MAX_TICKS_KEPT = 1000;

export function memoryStorage(options?: MemoryStorageOptions): MemoryStorage {
  return new MemoryStorage(options);
}

// ==================================================================== rows and queues

class Row {
  id: string;
  definitionId: string;
  name: string;
  status: RunStatus;
  input: unknown;
  output: unknown;
  error: RunError | undefined;
  progress: RunProgress | undefined;
  iterations: number;
  attempt: number;
  parentId: string | undefined;
  key: string | undefined;
  context: TaskContext | undefined;
  after: string | undefined;
  runAt: string | undefined;
  scheduledFor: string | undefined;
  backfilled: boolean;
  createdOn: string;
  startedOn: string | undefined;
  finishedOn: string | undefined;
  nodeId: string | undefined;
  dueAt: number;
  targetNodeId: string | undefined;
  leaseToken: string | undefined;
  leaseExpiresAt: number | undefined;
  abortRequested: boolean;
  recoveries: number;
  logCount: number;
  retries: number;
  retryOf: string | undefined;
  retryPolicy: RetryPolicy | undefined;
  originalInput: unknown;
  iterationBase: number;
  /** bumped whenever the row changes place (queue, lease, finished): older heap entries are dead */
  ver = 0;

  constructor(r: RunRecord, readonly def: DefState) {
    this.id = r.id;
    this.definitionId = r.definitionId;
    this.name = r.name;
    this.status = r.status;
    this.input = cloneJson(r.input);
    this.output = cloneJson(r.output);
    this.error = cloneJson(r.error) as RunError | undefined;
    this.progress = cloneJson(r.progress) as RunProgress | undefined;
    this.iterations = r.iterations ?? 0;
    this.attempt = r.attempt ?? 0;
    this.parentId = r.parentId;
    this.key = r.key;
    this.context = cloneJson(r.context) as TaskContext | undefined;
    this.after = r.after;
    this.runAt = r.runAt;
    this.scheduledFor = r.scheduledFor;
    this.backfilled = r.backfilled === true;
    this.createdOn = r.createdOn;
    this.startedOn = r.startedOn;
    this.finishedOn = r.finishedOn;
    this.nodeId = r.nodeId;
    this.dueAt = r.dueAt ?? 0;
    this.targetNodeId = r.targetNodeId;
    this.leaseToken = r.leaseToken;
    this.leaseExpiresAt = r.leaseExpiresAt;
    this.abortRequested = r.abortRequested === true;
    this.recoveries = r.recoveries ?? 0;
    this.logCount = r.logCount ?? 0;
    this.retries = r.retries ?? 0;
    this.retryOf = r.retryOf;
    this.retryPolicy = cloneJson(r.retryPolicy) as RetryPolicy | undefined;
    this.originalInput = cloneJson(r.originalInput);
    this.iterationBase = r.iterationBase ?? 0;
  }
}

function toRecord(r: Row): RunRecord {
  const out: RunRecord = {
    id: r.id,
    definitionId: r.definitionId,
    name: r.name,
    status: r.status,
    input: r.input === undefined ? undefined : cloneJson(r.input),
    iterations: r.iterations,
    attempt: r.attempt,
    retries: r.retries,
    createdOn: r.createdOn,
    dueAt: r.dueAt,
    abortRequested: r.abortRequested,
    recoveries: r.recoveries,
    logCount: r.logCount,
    iterationBase: r.iterationBase,
  };
  if (r.output !== undefined) out.output = cloneJson(r.output);
  if (r.error !== undefined) out.error = cloneJson(r.error) as RunError;
  if (r.progress !== undefined) out.progress = cloneJson(r.progress) as RunProgress;
  if (r.parentId !== undefined) out.parentId = r.parentId;
  if (r.key !== undefined) out.key = r.key;
  if (r.retryOf !== undefined) out.retryOf = r.retryOf;
  if (r.retryPolicy !== undefined) out.retryPolicy = cloneJson(r.retryPolicy) as RetryPolicy;
  if (r.originalInput !== undefined) out.originalInput = cloneJson(r.originalInput);
  if (r.context !== undefined) out.context = cloneJson(r.context) as TaskContext;
  if (r.after !== undefined) out.after = r.after;
  if (r.runAt !== undefined) out.runAt = r.runAt;
  if (r.scheduledFor !== undefined) out.scheduledFor = r.scheduledFor;
  if (r.backfilled) out.backfilled = true;
  if (r.startedOn !== undefined) out.startedOn = r.startedOn;
  if (r.finishedOn !== undefined) out.finishedOn = r.finishedOn;
  if (r.nodeId !== undefined) out.nodeId = r.nodeId;
  if (r.targetNodeId !== undefined) out.targetNodeId = r.targetNodeId;
  if (r.leaseToken !== undefined) out.leaseToken = r.leaseToken;
  if (r.leaseExpiresAt !== undefined) out.leaseExpiresAt = r.leaseExpiresAt;
  return out;
}

/** A place of a row in a heap or a blocked list; live while the row has not moved since. */
class Entry {
  constructor(readonly row: Row, readonly ver: number, readonly at: number) {}
  live(): boolean {
    return this.ver === this.row.ver;
  }
}

/** Binary min-heap of entries by `at` (a due time), then id. */
class EntryHeap {
  private readonly items: Entry[] = [];

  private less(a: Entry, b: Entry): boolean {
    if (a.at !== b.at) return a.at < b.at;
    return a.row.id < b.row.id;
  }

  push(entry: Entry): void {
    const items = this.items;
    let i = items.length;
    items.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(entry, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = entry;
  }

  /** the smallest live entry (dead ones on top are dropped) */
  peek(): Entry | undefined {
    while (this.items.length > 0 && !this.items[0].live()) this.pop();
    return this.items[0];
  }

  pop(): Entry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      const n = items.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.less(items[r], items[l]) ? r : l;
        if (!this.less(items[c], last)) break;
        items[i] = items[c];
        i = c;
      }
      items[i] = last;
    }
    return top;
  }
}

/**
 * Pending runs ordered by id: a sorted array read from a moving head. Ids are time-ordered and
 * nearly always arrive in increasing order, so a push is an append and a pop moves the head: O(1)
 * where a binary heap costs ~2 log n string comparisons and cache misses (it made claims 3x
 * slower at 50,000 queued runs). An out-of-order id (a delayed run coming due, a release) is a
 * binary search and a splice.
 */
class ReadyQueue {
  private items: Array<Entry | undefined> = [];
  private head = 0;

  push(entry: Entry): void {
    const items = this.items;
    const n = items.length;
    const id = entry.row.id;
    const last = items[n - 1];
    if (n === this.head || (last !== undefined && last.row.id < id)) {
      items.push(entry);
      return;
    }
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((items[mid] as Entry).row.id < id) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, entry);
  }

  /** the first live entry (dead ones at the head are dropped) */
  peek(): Entry | undefined {
    const items = this.items;
    while (this.head < items.length && !(items[this.head] as Entry).live()) items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  pop(): Entry | undefined {
    const entry = this.peek();
    if (entry) this.items[this.head++] = undefined;
    return entry;
  }
}

/** A first-in first-out queue of rows: an array read from a moving head, compacted as it goes. */
class RowFifo {
  private items: Array<Row | undefined> = [];
  private head = 0;

  push(row: Row): void {
    this.items.push(row);
  }

  shift(): Row | undefined {
    if (this.head >= this.items.length) return undefined;
    const row = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return row;
  }
}

class Bucket {
  /** pending, due at the last look, by id */
  readonly ready = new ReadyQueue();
  /** pending, not yet due at the last look, by dueAt */
  readonly delayed = new EntryHeap();
  /** running without a lease, by dueAt */
  readonly parked = new EntryHeap();
}

class DefState {
  pending = 0;
  running = 0;
  /** ids of this definition's runs, ascending (removed runs' ids may linger: see MemoryStorage.remove) */
  ids: string[] = [];
  /** ids in `ids` whose run was removed */
  deadIds = 0;
  /** target node id (`undefined` = any node) -> queues */
  private readonly buckets = new Map<string | undefined, Bucket>();
  readonly leased = new Set<Row>();
  /** a lower bound of the leased runs' expiries: no lease can have expired before it */
  leaseMin = Infinity;

  constructor(readonly id: string) {}

  bucket(target: string | undefined): Bucket {
    let bucket = this.buckets.get(target);
    if (!bucket) {
      bucket = new Bucket();
      this.buckets.set(target, bucket);
    }
    return bucket;
  }

  /** the buckets a node may take from: untargeted and targeted at it */
  bucketsFor(nodeId: string): Bucket[] {
    const out: Bucket[] = [];
    const any = this.buckets.get(undefined);
    if (any) out.push(any);
    const mine = this.buckets.get(nodeId);
    if (mine) out.push(mine);
    return out;
  }
}

type Found = { row: Row; kind: 'expired' | 'parked' | 'pending' };

/**
 * Yields one definition's claimable runs, one at a time, in this order: expired leases (b), by id;
 * due parked runs (a), by dueAt; due pending runs (c), by id, within the concurrency headroom.
 * Every yielded run is taken by the caller.
 */
class ClaimCursor {
  taken = 0;
  readonly max: number;
  private phase = 0;
  private expired: Row[] = [];
  private expiredAt = 0;
  private readonly buckets: Bucket[];
  private headroom: number;

  constructor(
    private readonly store: MemoryStorage,
    private readonly def: DefState,
    slot: ClaimSlot,
    private readonly request: ClaimRequest,
    private readonly disabled: boolean,
  ) {
    this.max = Math.floor(slot.max);
    this.buckets = def.bucketsFor(request.nodeId);
    this.headroom = slot.concurrency === undefined ? Infinity : Math.max(0, Math.floor(slot.concurrency) - def.running);
  }

  next(): Found | undefined {
    if (this.taken >= this.max) return undefined;
    const found = this.find();
    if (found) this.taken++;
    return found;
  }

  private find(): Found | undefined {
    const now = this.request.now;
    if (this.phase === 0) {
      this.phase = 1;
      const def = this.def;
      if (now > def.leaseMin) {
        let min = Infinity;
        for (const row of def.leased) {
          const expires = row.leaseExpiresAt ?? 0;
          if (expires < now) this.expired.push(row);
          if (expires < min) min = expires;
        }
        def.leaseMin = min;
        this.expired.sort((a, b) => cmp(a.id, b.id));
      }
    }
    if (this.phase === 1) {
      if (this.expiredAt < this.expired.length) return { row: this.expired[this.expiredAt++], kind: 'expired' };
      this.phase = 2;
    }
    if (this.phase === 2) {
      const entry = this.popMin('parked', now);
      if (entry) return { row: entry.row, kind: 'parked' };
      this.phase = 3;
      if (this.disabled || this.headroom <= 0) return undefined;
      // everything of `delayed` that is due now moves to `ready`, so id order is exact among due runs
      for (const bucket of this.buckets) {
        for (let e = bucket.delayed.peek(); e && e.at <= now; e = bucket.delayed.peek()) {
          bucket.delayed.pop();
          bucket.ready.push(e);
        }
      }
    }
    if (this.phase === 3) {
      if (this.headroom <= 0) return undefined;
      for (;;) {
        const entry = this.popMin('ready', Infinity);
        if (!entry) return undefined;
        const row = entry.row;
        if (row.dueAt > now) {
          // the clock went backwards since it was queued: back to waiting
          this.def.bucket(row.targetNodeId).delayed.push(new Entry(row, entry.ver, row.dueAt));
          continue;
        }
        if (row.after !== undefined) {
          const after = this.store.lookup(row.after);
          if (after && !isFinished(after.status)) {
            this.store.block(entry, row.after);
            continue;
          }
        }
        this.headroom--;
        return { row, kind: 'pending' };
      }
    }
    return undefined;
  }

  /** pops the smallest live entry across this node's buckets, if its `at` is <= `until` */
  private popMin(which: 'parked' | 'ready', until: number): Entry | undefined {
    let best: EntryHeap | ReadyQueue | undefined;
    let bestEntry: Entry | undefined;
    for (const bucket of this.buckets) {
      const heap = bucket[which];
      const top = heap.peek();
      if (!top || top.at > until) continue;
      const better =
        !bestEntry ||
        (which === 'parked' && top.at !== bestEntry.at ? top.at < bestEntry.at : top.row.id < bestEntry.row.id);
      if (better) {
        best = heap;
        bestEntry = top;
      }
    }
    best?.pop();
    return bestEntry;
  }
}

// ==================================================================== helpers


function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** index of the first element >= value */
function lowerBound(sorted: string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ids nearly always arrive in increasing order: append, else a binary insert (never twice: a removed run's id may linger) */
function insertSorted(sorted: string[], id: string): void {
  const n = sorted.length;
  if (n === 0 || sorted[n - 1] < id) {
    sorted.push(id);
    return;
  }
  const at = lowerBound(sorted, id);
  if (sorted[at] !== id) sorted.splice(at, 0, id);
}


function toLog(log: RunLog): RunLog {
  if (!LOG_TYPES.has(log.type)) throw new InvalidArgumentError(`Unknown log type ${JSON.stringify(log.type)}.`);
  const out: RunLog = { runId: log.runId, type: log.type, message: String(log.message), createdOn: log.createdOn };
  const data = cloneJson(log.data);
  if (data !== undefined) out.data = data;
  return out;
}

function copyLog(log: RunLog): RunLog {
  const out: RunLog = { runId: log.runId, type: log.type, message: log.message, createdOn: log.createdOn };
  if (log.data !== undefined) out.data = cloneJson(log.data);
  return out;
}

const MAX_FAST_DEPTH = 256;

/**
 * A deep copy with exactly the semantics of `JSON.parse(JSON.stringify(value))`: `undefined`,
 * functions and symbols are dropped (null inside arrays), non-finite numbers become null, `toJSON`
 * is honoured (Dates become strings), class instances become plain objects, a cycle or a BigInt
 * throws a TypeError. Top-level `undefined` (or a function) gives `undefined`.
 * Plain data is copied by hand; anything unusual takes the JSON route. An own `__proto__` key is
 * defined as data (as JSON.parse does), so it can never reach a prototype.
 */
export function cloneJson(value: unknown): unknown {
  return copy(value, 0);
}

function copy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'object':
      break;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
  if (value === null) return null;
  if (depth > MAX_FAST_DEPTH) return slowCopy(value); // deep, or a cycle: JSON.stringify throws the TypeError
  if (Array.isArray(value)) {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return slowCopy(value);
    const n = value.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const item = copy(value[i], depth + 1);
      out[i] = item === undefined ? null : item;
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return slowCopy(value);
  }
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const item = copy(source[key], depth + 1);
    if (item === undefined) continue;
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, writable: true, enumerable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

function slowCopy(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}
