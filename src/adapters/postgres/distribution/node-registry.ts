import type { AcceptRules } from '../../../api/types';
import type { NodeDescriptor } from '../../../ports/distribution';
import { destroySocket, withTimeout } from '../pg-support';
import { quoteSchema } from '../postgres-migrations';
import type { DistributionContext } from './context';
import { withShortLivedClient } from './pg-clients';

interface NodeRow {
  node_id: string;
  version: string;
  accept: string;
  started_on: string;
  heartbeat_at: Date;
}

function toNodeDescriptor(r: NodeRow): NodeDescriptor {
  return {
    nodeId: r.node_id,
    version: r.version,
    accept: JSON.parse(r.accept) as AcceptRules,
    startedOn: r.started_on,
    heartbeatOn: new Date(r.heartbeat_at).toISOString(),
  };
}

export interface NodeRegistryOptions {
  connectionString: string;
  /** the schema asked for in the options (the registry read before start is there, else in `tasklane`) */
  explicitSchema: string | undefined;
  nodeTtlMs: number;
  queryTimeoutMs: number;
  /** `application_name` of a connection made before start */
  unstartedAppName(): string;
}

/**
 * The `nodes` table: this node's row (version, accept rules, startedOn, heartbeat), refreshed at
 * every heartbeat, and the live nodes (heartbeat younger than `nodeTtlMs`). Liveness uses the
 * database clock, so node clocks may disagree.
 */
export class NodeRegistry {
  private lastNodes: NodeDescriptor[] | undefined;
  private inflight: Promise<NodeDescriptor[]> | undefined;

  constructor(
    private readonly ctx: DistributionContext,
    private readonly options: NodeRegistryOptions,
  ) {}

  /**
   * Registers (or refreshes) this node, and reads the server's clock on the way: its time at the
   * statement, taken at the midpoint of the round trip on the monotonic clock (the host keeps the
   * readings: see DistributionHost.clockSample).
   */
  async register(): Promise<void> {
    const host = this.ctx.host;
    if (!host || !this.ctx.connected) return;
    const s = this.ctx.s;
    const node = host.node;
    const sent = performance.now();
    const res = await this.ctx.q<{ server_ms: number }>(
      `insert into ${s}.nodes (node_id, version, accept, started_on, heartbeat_at)
       values ($1, $2, $3::json, $4, now())
       on conflict (node_id) do update set
         version = excluded.version, accept = excluded.accept, started_on = excluded.started_on, heartbeat_at = now()
       returning (extract(epoch from clock_timestamp()) * 1000)::float8 as server_ms`,
      [node.nodeId, node.version, JSON.stringify(node.accept ?? {}), node.startedOn],
    );
    const received = performance.now();
    const storeMs = Number(res.rows[0]?.server_ms);
    if (!Number.isFinite(storeMs) || host !== this.ctx.host) return;
    try {
      host.clockSample?.({ storeMs, monotonicMs: (sent + received) / 2, roundTripMs: received - sent });
    } catch (err) {
      this.ctx.report('a host callback threw', err);
    }
  }

  /** forgets the nodes not heard of for long (every 30th heartbeat) */
  forgetSilentNodes(): void {
    const forgetAfterMs = Math.max(60_000, this.options.nodeTtlMs * 10);
    const s = this.ctx.s;
    this.ctx
      .q(`delete from ${s}.nodes where heartbeat_at < now() - ($1::double precision * interval '1 millisecond')`, [forgetAfterMs])
      .catch((err: unknown) => this.ctx.report('cleaning the node registry failed', err));
  }

  async unregister(): Promise<void> {
    const host = this.ctx.host;
    if (!host || !this.ctx.connected) return;
    const s = this.ctx.s;
    await this.ctx
      .q(`delete from ${s}.nodes where node_id = $1`, [host.node.nodeId])
      .catch((err: unknown) => this.ctx.report('could not remove this node from the registry', err));
  }

  /**
   * Nodes whose heartbeat is younger than `nodeTtlMs` (database clock). Before start (trigger
   * before start), the registry is read over a short-lived connection in the configured schema
   * (or `tasklane`); this node is then not listed yet.
   */
  liveNodes(): Promise<NodeDescriptor[]> {
    const host = this.ctx.host;
    if (!host || !this.ctx.connected) return this.liveNodesBeforeStart();
    const s = this.ctx.s;
    this.inflight ??= (async () => {
      try {
        const res = await this.ctx.q<NodeRow>(
          `select node_id, version, accept, started_on, heartbeat_at from ${s}.nodes
           where heartbeat_at > now() - ($1::double precision * interval '1 millisecond')
           order by node_id`,
          [this.options.nodeTtlMs],
        );
        const nodes = res.rows.map(toNodeDescriptor);
        if (this.ctx.running && !nodes.some((n) => n.nodeId === host.node.nodeId)) {
          nodes.push({ ...host.node, heartbeatOn: new Date().toISOString() });
        }
        this.lastNodes = nodes;
        return nodes;
      } catch (err) {
        this.ctx.report('listing live nodes failed; answering with the last known list', err);
        return this.lastNodes ?? [{ ...host.node, heartbeatOn: new Date().toISOString() }];
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private async liveNodesBeforeStart(): Promise<NodeDescriptor[]> {
    const s = quoteSchema(this.options.explicitSchema ?? 'tasklane');
    const timeoutMs = this.options.queryTimeoutMs;
    try {
      return await withShortLivedClient(
        { connectionString: this.options.connectionString, applicationName: this.options.unstartedAppName(), timeoutMs },
        async (client) => {
          const exists = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [`${s}.nodes`]);
          if (!exists.rows[0]?.ok) return [];
          const res = await withTimeout(
            client.query<NodeRow>(
              `select node_id, version, accept, started_on, heartbeat_at from ${s}.nodes
               where heartbeat_at > now() - ($1::double precision * interval '1 millisecond')
               order by node_id`,
              [this.options.nodeTtlMs],
            ),
            timeoutMs,
            () => destroySocket(client),
          );
          return res.rows.map(toNodeDescriptor);
        },
      );
    } catch {
      return [];
    }
  }

  /** at teardown */
  clear(): void {
    this.lastNodes = undefined;
  }
}
