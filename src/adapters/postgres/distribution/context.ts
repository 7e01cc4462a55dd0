import type { QueryResult, QueryResultRow } from 'pg';
import type { DistributionHost } from '../../../ports/distribution';
import type { Channels } from './channels';

/** What the parts of the PostgreSQL distribution share: its host, state, connections and faults. */
export interface DistributionContext {
  /** the engine this distribution serves, while started */
  readonly host: DistributionHost | undefined;
  /** started and not stopping */
  readonly running: boolean;
  /** the pool is open (from the start until the teardown) */
  readonly connected: boolean;
  readonly channels: Channels;
  /** the schema's name, quoted */
  readonly s: string;
  /** one statement on a pooled connection, bounded in time */
  q<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  /** a fault, to the host's error sink (never thrown) */
  report(what: string, err: unknown): void;
  /** a host callback; a throw is reported, never raised */
  deliver(fn: () => void): void;
  /** sends what is queued at the next flush; resolves once it was sent (or failed) */
  scheduleFlush(): Promise<void>;
}
