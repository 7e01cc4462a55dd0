import { optionalDuration } from '../../../util/duration';

/** Options of postgresDistribution(). */
export interface PostgresDistributionOptions {
  connectionString: string;
  /**
   * Schema of the `nodes` table and namespace of the NOTIFY channels. Default: the schema of the
   * `PostgresStorage` the engine uses, else `tasklane`.
   */
  schema?: string;
  /** ms between heartbeats of this node, and between liveness checks of the LISTEN link (default 2000) */
  heartbeatMs?: number;
  /** a node whose last heartbeat is older than this is not live (default 3 x heartbeatMs) */
  nodeTtlMs?: number;
  /** safety poll: ms between wake-ups that do not wait for a notification (default 2000) */
  pollMs?: number;
  /** ms the LISTEN link may take to answer its `SELECT 1` before it is replaced (default heartbeatMs) */
  listenerTimeoutMs?: number;
  /**
   * prefix of the connections' `application_name` (default `tasklane`): the LISTEN link is
   * `<prefix>-listener:<nodeId>`, the others `<prefix>-distribution:<nodeId>`
   */
  applicationName?: string;
}

/** a duration option: from 1 ms to 10 years (see checkDuration) */
export function positive(value: number | undefined, fallback: number, name: string): number {
  return optionalDuration(value, `postgresDistribution: \`${name}\``, fallback, 1);
}
