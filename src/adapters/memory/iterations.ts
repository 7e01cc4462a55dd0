import type { RunError, RunProgress } from '../../api/types';
import { isFinished } from '../../api/types';
import type { AbortResult, IterationUpdate, LeaseRenewal, RenewResult, UpdateResult } from '../../ports/storage';
import { assertStatus } from '../shared/record-checks';
import { cloneJson } from './clone-json';
import type { MemoryIndex } from './memory-index';
import { toRecord } from './row';

// A claimed run's life under its lease: the iteration's outcome, lease renewal, abort, progress.
// Every change checks the lease it was made under.

export function updateIterations(index: MemoryIndex, updates: IterationUpdate[]): UpdateResult[] {
  for (const u of updates) assertStatus(u.status);
  const hint = Math.max(index.clockHint, Date.now());
  const out: UpdateResult[] = [];
  for (const u of updates) {
    const row = index.runs.get(u.id);
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

    index.dropLease(row);
    if (input !== undefined) {
      if (row.originalInput === undefined) row.originalInput = row.input;
      row.input = input;
    }
    if (output !== undefined) row.output = output;
    if (u.status === 'success')
      row.error = undefined; // a retried failure: the run did not fail
    else if (error !== undefined) row.error = error;
    if (progress !== undefined) row.progress = progress;
    if (u.dueAt !== undefined) row.dueAt = u.dueAt;
    if (u.unclaim) row.iterations = Math.max(0, row.iterations - 1);
    if (u.status === 'running') {
      index.park(row);
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
      index.setStatus(row, 'pending');
      index.enqueuePending(row, hint);
    } else {
      index.finish(row, u.status, u.finishedOn ?? new Date().toISOString());
    }
    out.push({ ok: true, run: toRecord(row) });
  }
  return out;
}

export function renewLeases(index: MemoryIndex, nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): RenewResult {
  const lost: string[] = [];
  const abortRequested: string[] = [];
  const expires = now + leaseMs;
  for (const lease of leases) {
    const row = index.runs.get(lease.id);
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

export function requestAbort(index: MemoryIndex, id: string, message: string, now: string): AbortResult {
  const row = index.runs.get(id);
  if (!row) return { kind: 'not_found' };
  if (isFinished(row.status)) return { kind: 'finished', run: toRecord(row) };
  if (row.status === 'running' && row.leaseToken !== undefined) {
    row.abortRequested = true;
    return { kind: 'requested', run: toRecord(row) };
  }
  row.error = { message: String(message), code: 'ABORTED' };
  index.finish(row, 'aborted', now);
  return { kind: 'aborted', run: toRecord(row) };
}

export function saveProgress(index: MemoryIndex, id: string, progress: RunProgress): void {
  const row = index.runs.get(id);
  if (row && row.status === 'running') row.progress = cloneJson(progress) as RunProgress;
}
