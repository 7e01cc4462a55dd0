import type { EventInterest, RunEventNotice } from '../../../ports/distribution';
import type { DistributionContext } from './context';
import { MAX_PAYLOAD, MAX_RUN_IN_NOTICE, type OutgoingBatch } from './notices';

const RELAYED_TYPES = new Set(['submitted', 'started', 'progress', 'iteration', 'retrying']);

function readInterest(value: unknown): EventInterest | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { all?: unknown; definitions?: unknown; runs?: unknown };
  const strings = (list: unknown) => (Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []);
  return { all: v.all === true, definitions: strings(v.definitions), runs: strings(v.runs) };
}

function readEventItem(item: unknown): RunEventNotice | undefined {
  if (!Array.isArray(item) || !RELAYED_TYPES.has(item[0]) || typeof item[1] !== 'string' || typeof item[2] !== 'string') return undefined;
  const notice: RunEventNotice = { type: item[0] as RunEventNotice['type'], runId: item[1], definitionId: item[2] };
  const run: unknown = item[3];
  if (typeof run === 'object' && run !== null && (run as { id?: unknown }).id === notice.runId) notice.run = run as RunEventNotice['run'];
  if (typeof item[4] === 'object' && item[4] !== null) notice.progress = item[4] as RunEventNotice['progress'];
  if (typeof item[5] === 'object' && item[5] !== null) notice.error = item[5] as RunEventNotice['error'];
  return notice;
}

/**
 * Live run events (see Distribution.setEventInterest), on channels `<schema>.interest` and
 * `<schema>.events`: each node announces what its live views want (again at every heartbeat, so
 * an interest lapses with its node), and relays the events the others want.
 */
export class EventRelay {
  /** what this node's live views want (resent at every heartbeat while set) */
  private ownInterest: EventInterest | null = null;
  /** an explicit "no more" is owed to the other nodes */
  private interestWithdrawn = false;
  /** the interests other nodes announced, until they lapse */
  private readonly remoteInterests = new Map<string, { interest: EventInterest; until: number }>();
  private lastMergedInterest = 'null';
  private outEvents: RunEventNotice[] = [];

  constructor(
    private readonly ctx: DistributionContext,
    private readonly nodeTtlMs: number,
  ) {}

  setEventInterest(interest: EventInterest | null): void {
    const had = this.ownInterest !== null;
    this.ownInterest = interest;
    if (interest === null && !had) return;
    this.interestWithdrawn = interest === null;
    if (this.ctx.running) void this.ctx.scheduleFlush();
  }

  publishRunEvents(notices: RunEventNotice[]): void {
    if (!this.ctx.running || notices.length === 0) return;
    for (const n of notices) this.outEvents.push(n);
    void this.ctx.scheduleFlush();
  }

  /** at every heartbeat: this node's interest again, and the others' that lapsed are dropped */
  heartbeat(): void {
    if (this.ownInterest !== null) void this.ctx.scheduleFlush();
    if (this.remoteInterests.size === 0) return;
    const now = Date.now();
    for (const [node, entry] of this.remoteInterests) if (entry.until < now) this.remoteInterests.delete(node);
    this.interestChanged();
  }

  onNotification(channel: string, payload: string): void {
    const host = this.ctx.host;
    if (!host) return;
    let data: { n?: unknown; i?: unknown; e?: unknown };
    try {
      data = JSON.parse(payload) as typeof data;
    } catch (err) {
      this.ctx.report(`unreadable notification on ${channel}`, err);
      return;
    }
    if (typeof data.n !== 'string' || data.n === host.node.nodeId) return;
    if (channel === this.ctx.channels.interest) {
      const interest = readInterest(data.i);
      if (interest) this.remoteInterests.set(data.n, { interest, until: Date.now() + this.nodeTtlMs });
      else this.remoteInterests.delete(data.n);
      this.interestChanged();
    } else if (Array.isArray(data.e) && this.ownInterest !== null) {
      const notices: RunEventNotice[] = [];
      for (const item of data.e) {
        const n = readEventItem(item);
        if (n) notices.push(n);
      }
      if (notices.length > 0) this.ctx.deliver(() => host.runEvents?.(notices));
    }
  }

  /** tells the host the merged interest of the other nodes when it changed */
  private interestChanged(): void {
    let merged: EventInterest | null = null;
    for (const { interest } of this.remoteInterests.values()) {
      merged ??= { all: false, definitions: [], runs: [] };
      merged.all ||= interest.all;
      merged.definitions.push(...interest.definitions);
      merged.runs.push(...interest.runs);
    }
    if (merged) merged = { all: merged.all, definitions: [...new Set(merged.definitions)].sort(), runs: [...new Set(merged.runs)].sort() };
    const key = JSON.stringify(merged);
    if (key === this.lastMergedInterest) return;
    this.lastMergedInterest = key;
    const host = this.ctx.host;
    if (host) this.ctx.deliver(() => host.eventInterest?.(merged));
  }

  /** the interest notice and the queued events, as NOTIFY batches (runs too large travel without the run) */
  takeBatches(node: string, header: number, batches: OutgoingBatch[]): void {
    const channels = this.ctx.channels;
    if (this.ownInterest !== null || this.interestWithdrawn) {
      this.interestWithdrawn = false;
      // a stopping node withdraws its interest at once (its interest is kept for its next start)
      const payload = JSON.stringify({ n: node, i: this.ctx.running ? this.ownInterest : null });
      // an interest too long for one notice is sent as "all" (the relay bounds its lists anyway)
      batches.push({
        channel: channels.interest,
        payload: payload.length <= MAX_PAYLOAD ? payload : JSON.stringify({ n: node, i: { all: true, definitions: [], runs: [] } }),
      });
    }
    if (this.outEvents.length === 0) return;
    const events = this.outEvents;
    this.outEvents = [];
    let chunk: string[] = [];
    let size = header;
    for (const e of events) {
      let text = JSON.stringify([e.type, e.runId, e.definitionId, e.run ?? null, e.progress ?? null, e.error ?? null]);
      if (text.length > MAX_RUN_IN_NOTICE)
        text = JSON.stringify([
          e.type,
          e.runId,
          e.definitionId,
          null,
          e.progress ?? null,
          e.error ? { message: String(e.error.message).slice(0, 500), code: e.error.code } : null,
        ]);
      if (text.length > MAX_RUN_IN_NOTICE) continue; // ids and progress this large are not worth relaying
      if (chunk.length > 0 && size + text.length + 1 > MAX_PAYLOAD) {
        batches.push({ channel: channels.events, payload: `{"n":${JSON.stringify(node)},"e":[${chunk.join(',')}]}` });
        chunk = [];
        size = header;
      }
      chunk.push(text);
      size += text.length + 1;
    }
    if (chunk.length > 0) batches.push({ channel: channels.events, payload: `{"n":${JSON.stringify(node)},"e":[${chunk.join(',')}]}` });
  }

  /** at teardown; this node's own interest stays (the engine announces it again when it starts) */
  reset(): void {
    this.outEvents = [];
    this.remoteInterests.clear();
    this.lastMergedInterest = 'null';
    this.interestWithdrawn = false;
  }
}
