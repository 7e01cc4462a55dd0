import type { Notification } from 'pg';
import { accepts } from '../../../core/definitions/accept-rules';
import type { DueTimer } from '../../shared/due-timer';
import type { DistributionContext } from './context';
import type { EventRelay } from './event-relay';
import type { FinishReplay } from './finish-replay';
import { readFinishItem } from './notices';

/** What a notification is handed to. */
export interface IncomingParts {
  ctx: DistributionContext;
  /** how this node's own NOTIFY payloads begin */
  ownPrefix: () => string;
  due: DueTimer;
  relay: EventRelay;
  replay: FinishReplay;
}

/** A notification heard on the LISTEN link, decoded and delivered to the host. */
export function onNotification(parts: IncomingParts, msg: Notification): void {
  const { ctx } = parts;
  const host = ctx.host;
  if (!host || !msg.payload) return;
  const channels = ctx.channels;
  // this node's own notices (delivered locally when published) are skipped unparsed: every
  // payload starts with the sender's id (see Outbox.takeBatches)
  if (msg.payload.startsWith(parts.ownPrefix())) return;
  if (msg.channel === channels.events || msg.channel === channels.interest) return parts.relay.onNotification(msg.channel, msg.payload);
  // nothing here waits for a run or listens to run ends: the finishes are not decoded (on a
  // cluster every node gets every node's finishes); the wake-up stays, as a finish can free a
  // concurrency slot or an `after`
  if (msg.channel === channels.finish && host.wantsFinished?.() === false) {
    ctx.deliver(() => host.wake());
    return;
  }
  let data: { n?: unknown; w?: unknown; r?: unknown; f?: unknown; d?: unknown };
  try {
    data = JSON.parse(msg.payload) as typeof data;
  } catch (err) {
    ctx.report(`unreadable notification on ${msg.channel}`, err);
    return;
  }
  if (data.n === host.node.nodeId) return; // delivered locally when published
  if (msg.channel === channels.wake && data.w && typeof data.w === 'object') {
    const now = host.now();
    let wakeNow = false;
    for (const [def, times] of Object.entries(data.w as Record<string, unknown>)) {
      if (!Array.isArray(times) || !accepts(host.node.accept ?? {}, def)) continue;
      for (const t of times) {
        if (typeof t !== 'number') continue;
        if (t <= now) wakeNow = true;
        else parts.due.add(t);
      }
    }
    if (wakeNow) ctx.deliver(() => host.wake());
  } else if (msg.channel === channels.restart && typeof data.d === 'string') {
    const definitionId = data.d;
    ctx.deliver(() => host.definitionRestarted(definitionId));
  } else if (msg.channel === channels.abort && Array.isArray(data.r)) {
    for (const id of data.r) if (typeof id === 'string') ctx.deliver(() => host.abortRequested(id));
  } else if (msg.channel === channels.finish && Array.isArray(data.f)) {
    for (const item of data.f) {
      const notice = readFinishItem(item);
      if (!notice) continue;
      parts.replay.remember(notice.id);
      ctx.deliver(() => host.finished(notice));
    }
  }
}
