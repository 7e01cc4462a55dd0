import type { RunStatus, TaskRun } from '../../../api/types';
import type { FinishedNotice } from '../../../ports/distribution';
import { wakePayload } from '../wake-payload';

/** One NOTIFY to send. */
export interface OutgoingBatch {
  channel: string;
  payload: string;
}

/** Definition ids of this pseudo-definition never run away from the node that started them. */
export const INLINE_DEFINITION = 'inline';

/** NOTIFY payloads must stay below 8000 bytes. */
export const MAX_PAYLOAD = 7000;
/** the largest finish notice (or run event) that carries its run (JSON characters); larger ones are read back */
export const MAX_RUN_IN_NOTICE = 2000;
/** distinct future due times announced per flush (the safety poll covers the rest) */
const MAX_ANNOUNCED_DUE_TIMES = 20_000;

/** a finish notice: id, definition, status, and the ended run when it is small */
type FinishItem = [string, string, RunStatus] | [string, string, RunStatus, TaskRun];

/**
 * The wake-up notices of the runs made runnable since the last flush, by definition (0 = due
 * now, else the due time), in as few payloads as fit.
 */
export function wakeBatches(channel: string, node: string, header: number, wake: Map<string, Set<number>>): OutgoingBatch[] {
  const batches: OutgoingBatch[] = [];
  let entries: Record<string, number[]> = {};
  let size = header;
  let count = 0;
  let announced = 0;
  const push = () => {
    if (count > 0) batches.push({ channel, payload: wakePayload(entries, { node }) });
    entries = {};
    size = header;
    count = 0;
  };
  for (const [def, times] of wake) {
    const sorted = [...times].sort((x, y) => x - y);
    for (const t of sorted) {
      if (t !== 0 && announced >= MAX_ANNOUNCED_DUE_TIMES) break;
      const cost = (t: number) => (entries[def] ? 0 : JSON.stringify(def).length + 4) + String(t).length + 1;
      if (count > 0 && size + cost(t) > MAX_PAYLOAD) push();
      size += cost(t);
      (entries[def] ??= []).push(t);
      count++;
      if (t !== 0) announced++;
    }
  }
  push();
  return batches;
}

/** The abort notices of these runs (each once). */
export function abortBatches(channel: string, node: string, header: number, runIds: string[]): OutgoingBatch[] {
  const batches: OutgoingBatch[] = [];
  const ids = [...new Set(runIds)];
  let chunk: string[] = [];
  let size = header;
  for (const id of ids) {
    const add = JSON.stringify(id).length + 1;
    if (chunk.length > 0 && size + add > MAX_PAYLOAD) {
      batches.push({ channel, payload: JSON.stringify({ n: node, r: chunk }) });
      chunk = [];
      size = header;
    }
    chunk.push(id);
    size += add;
  }
  if (chunk.length > 0) batches.push({ channel, payload: JSON.stringify({ n: node, r: chunk }) });
  return batches;
}

/** The finish notices of these runs. */
export function finishBatches(channel: string, node: string, header: number, finished: FinishedNotice[]): OutgoingBatch[] {
  const batches: OutgoingBatch[] = [];
  let chunk: FinishItem[] = [];
  let size = header;
  for (const f of finished) {
    // a small run travels along: the waiting node resolves it without reading it back
    let item: FinishItem = f.run === undefined ? [f.id, f.definitionId, f.status] : [f.id, f.definitionId, f.status, f.run];
    let text = JSON.stringify(item);
    if (text.length > MAX_RUN_IN_NOTICE && item.length === 4) {
      item = [f.id, f.definitionId, f.status];
      text = JSON.stringify(item);
    }
    const add = text.length + 1;
    if (chunk.length > 0 && size + add > MAX_PAYLOAD) {
      batches.push({ channel, payload: JSON.stringify({ n: node, f: chunk }) });
      chunk = [];
      size = header;
    }
    chunk.push(item);
    size += add;
  }
  if (chunk.length > 0) batches.push({ channel, payload: JSON.stringify({ n: node, f: chunk }) });
  return batches;
}

/** A finish notice as received; undefined when it is not one. */
export function readFinishItem(item: unknown): FinishedNotice | undefined {
  if (!Array.isArray(item) || typeof item[0] !== 'string') return undefined;
  const notice: FinishedNotice = { id: item[0], definitionId: String(item[1]), status: item[2] as RunStatus };
  const run: unknown = item[3];
  if (typeof run === 'object' && run !== null && (run as TaskRun).id === notice.id && (run as TaskRun).status === notice.status) notice.run = run as TaskRun;
  return notice;
}

/** NOTIFYs sent by one statement */
export const MAX_NOTIFIES_PER_STATEMENT = 50;
const notifySqlCache = new Map<number, string>();

/** `select pg_notify($1, $2), pg_notify($3, $4), ...` for n notices (fixed text per n) */
export function notifySql(n: number): string {
  let text = notifySqlCache.get(n);
  if (text === undefined) {
    text = 'select ' + Array.from({ length: n }, (_, i) => `pg_notify($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    notifySqlCache.set(n, text);
  }
  return text;
}
