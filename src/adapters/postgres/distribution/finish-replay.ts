import type { RunStatus } from '../../../api/types';
import type { FinishedNotice } from '../../../ports/distribution';
import { RecentSet } from '../bounded';
import { PostgresStorage } from '../postgres-storage';
import type { DistributionContext } from './context';
import type { ListenLink } from './listen-link';

/** finishes remembered as delivered (so a replay after a lost LISTEN link skips them): the last 50,000 to 100,000 */
const MAX_REMEMBERED_FINISHES = 100_000;
/** finishes replayed at most after a lost LISTEN link */
const MAX_REPLAYED_FINISHES = 100_000;
/** replay from this long before the link was noticed lost (clocks, in-flight notices) */
const REPLAY_MARGIN_MS = 5_000;

/**
 * The finishes delivered here recently, and their replay after the LISTEN link came back: the
 * finishes this node may have missed while it was down (runs finished since shortly before the
 * link was lost) are read from the runs table and delivered, so wait() and events elsewhere do
 * not hang on a lost NOTIFY. Runs already delivered here are skipped.
 */
export class FinishReplay {
  /** ids of runs whose finish was delivered here recently (bounded), so a replay skips them */
  private readonly delivered = new RecentSet(MAX_REMEMBERED_FINISHES);

  constructor(private readonly ctx: DistributionContext) {}

  remember(id: string): void {
    this.delivered.add(id);
  }

  /**
   * After the LISTEN link came back: replays the finishes since it was lost (less a margin), when
   * the storage is the PostgreSQL one of this schema (the runs table is read). The outage is
   * made up for (`link.lostAt` cleared) unless the link was lost again meanwhile or the read failed.
   */
  async afterReconnect(link: ListenLink, schema: string): Promise<void> {
    const lostAt = link.lostAt;
    const host = this.ctx.host;
    if (lostAt === undefined || !host) return;
    if (!(host.storage instanceof PostgresStorage) || host.storage.schema !== schema) {
      link.lostAt = undefined;
      return;
    }
    const s = this.ctx.s;
    try {
      const res = await this.ctx.q<{ id: string; definition_id: string; status: RunStatus }>(
        `select id, definition_id, status from ${s}.runs
         where finished_at >= $1 and status in ('success', 'failed', 'aborted')
         order by finished_at limit $2`,
        [lostAt - REPLAY_MARGIN_MS, MAX_REPLAYED_FINISHES],
      );
      if (link.connected) link.lostAt = undefined;
      for (const r of res.rows) {
        if (this.delivered.has(r.id)) continue;
        this.remember(r.id);
        const notice: FinishedNotice = { id: r.id, definitionId: r.definition_id, status: r.status };
        this.ctx.deliver(() => host.finished(notice));
      }
    } catch (err) {
      this.ctx.report('replaying the finishes missed while the LISTEN link was down failed', err);
    }
  }

  clear(): void {
    this.delivered.clear();
  }
}
