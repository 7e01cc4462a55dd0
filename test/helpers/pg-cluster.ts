/**
 * The harness of the PostgreSQL cluster tests: node processes (test/fixtures/pg-node.ts) sharing one
 * PostgreSQL schema, and the test process as a client node that accepts no work but triggers, waits
 * and aborts.
 *
 * Inside a `describeWithPostgres` block, `useCluster()` registers the set-up and tear-down: every test
 * gets a fresh schema; `cluster(specs)` starts the client (which migrates the schema), creates the
 * sink table and spawns the nodes; after each test the nodes and the client stop and the schema is
 * dropped; after all, any node process still alive is SIGKILLed.
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { compiled } from './child-build';
import { Container } from 'inversify';
import { createLogger, transports } from 'winston';
import { postgresDistribution, postgresStorage } from '../../src/adapters/postgres';
import { registerTasks, tasklane, TaskEngine, TaskService, type AcceptRules } from '../../src';
import { CLUSTER_TASKS, sinkTableSql } from '../fixtures/pg-tasks';
import { freshPgSchema, PG_URL, withPg } from './services';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** how long a node process may take to load and start (tests that spawn nodes allow for it) */
export const NODE_START_MS = 90_000;

export interface NodeOptions {
  nodeId: string;
  accept?: AcceptRules;
  concurrency?: number;
  leaseMs?: number;
  cron?: boolean;
  /** bound of a graceful stop (stop command, SIGTERM), ms (the node's default: 5000) */
  graceMs?: number;
  /** V8's heap limit of the node process (`--max-old-space-size`), MB: the out-of-memory tests */
  maxOldSpaceMb?: number;
}

export interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: { name: string; code?: string; message: string };
  ready?: string;
  /** when the node got SIGTERM (epoch ms, its clock) */
  sigterm?: number;
}

/** every node process spawned and not yet exited (SIGKILLed by useCluster's afterAll) */
const children = new Set<ChildProcess>();

export class NodeProcess {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<number | null>;
  /** when the process exited (epoch ms, this clock) */
  exitedAt?: number;
  /** when it said it got SIGTERM (epoch ms, its clock) */
  sigtermAt?: number;
  /**
   * What it wrote to stderr (its last 64 KiB), for a node started with `maxOldSpaceMb`; other nodes
   * write to this process's stderr. A node that may run out of memory must not: jest's worker reads
   * its own stderr, and V8's "heap out of memory" report there makes jest kill the worker as if it
   * had run out of memory itself.
   */
  stderr = '';

  private constructor(
    readonly nodeId: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitedAt = Date.now();
        resolve(code);
      }),
    );
    child.on('message', (msg: Reply) => {
      if (msg.sigterm !== undefined) this.sigtermAt = msg.sigterm;
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else {
        const err = new Error(msg.error?.message ?? 'failed') as Error & { code?: string };
        err.name = msg.error?.name ?? 'Error';
        err.code = msg.error?.code;
        p.reject(err);
      }
    });
    void this.exited.then(() => {
      children.delete(child);
      for (const p of this.pending.values()) p.reject(new Error(`${nodeId} exited`));
      this.pending.clear();
    });
  }

  static spawn(schema: string, options: NodeOptions): Promise<NodeProcess> {
    const { maxOldSpaceMb, ...nodeOptions } = options;
    const config = { url: PG_URL, schema, leaseMs: 5000, concurrency: 50, ...nodeOptions };
    const child = fork(compiled('test/fixtures/pg-node.ts'), [], {
      execArgv: maxOldSpaceMb === undefined ? [] : [`--max-old-space-size=${maxOldSpaceMb}`],
      env: { ...process.env, TL_NODE_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', maxOldSpaceMb === undefined ? 'inherit' : 'pipe', 'ipc'],
    });
    children.add(child);
    const node = new NodeProcess(options.nodeId, child);
    child.stderr?.on('data', (d: Buffer) => {
      node.stderr = (node.stderr + d.toString()).slice(-64 * 1024);
    });
    return new Promise((resolve, reject) => {
      // a node loads its modules and connects: allow for a busy machine
      const timer = setTimeout(() => reject(new Error(`${options.nodeId} did not start within ${NODE_START_MS / 1000} s`)), NODE_START_MS);
      child.on('message', (msg: Reply) => {
        if (msg.ready) {
          clearTimeout(timer);
          resolve(node);
        }
      });
      void node.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${options.nodeId} exited with ${code} before it was ready`));
      });
    });
  }

  call<T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, ...args });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call('stop').catch(() => undefined);
    await this.exited;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

export interface ClusterClient {
  container: Container;
  service: TaskService;
  engine: TaskEngine;
  stop(): Promise<void>;
}

/** The test process as a node that accepts no work: it triggers, waits and aborts. */
export async function startClient(schema: string): Promise<ClusterClient> {
  const container = new Container();
  await container.load(
    tasklane({
      storage: postgresStorage({ connectionString: PG_URL, schema, poolSize: 6, applicationName: `${schema}-p-storage:client` }),
      distribution: postgresDistribution({ connectionString: PG_URL, heartbeatMs: 500, pollMs: 1000, applicationName: `${schema}-p` }),
      nodeId: 'client',
      accept: { include: [] },
      concurrency: 1,
      logger: createLogger({ level: 'error', transports: [new transports.Console({ stderrLevels: ['error'] })] }),
    }),
  );
  registerTasks(container, CLUSTER_TASKS);
  const engine = container.get(TaskEngine);
  await engine.start();
  return { container, service: container.get(TaskService), engine, stop: () => engine.stop({ graceful: false }) };
}

export interface SinkRow {
  key: string;
  run_id: string;
  node_id: string;
  attempt: number;
  phase: string;
  info: unknown;
}

/** the rows the tasks wrote to `<schema>.sink`, in the order written */
export async function sinkRows(schema: string, where = 'true'): Promise<SinkRow[]> {
  return withPg(
    async (c) => (await c.query<SinkRow>(`select key, run_id, node_id, attempt, phase, info from "${schema}".sink where ${where} order by seq`)).rows,
  );
}

export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** What `useCluster()` gives a test: read its fields inside a test, not at definition time. */
export interface ClusterHarness {
  /** this test's schema */
  readonly schema: string;
  /** the client node, once `cluster()` started it */
  readonly client: ClusterClient | undefined;
  /** the node processes of this test (a test may replace one, e.g. to restart it) */
  nodes: NodeProcess[];
  /** starts the client (which migrates the schema), creates the sink table, and spawns the nodes */
  cluster(specs: NodeOptions[]): Promise<NodeProcess[]>;
}

/** Registers the cluster set-up and tear-down in the enclosing describe block. */
export function useCluster(): ClusterHarness {
  let schema: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  let client: ClusterClient | undefined;

  const harness: ClusterHarness = {
    get schema(): string {
      if (schema === undefined) throw new Error('useCluster: no schema outside a test');
      return schema;
    },
    get client(): ClusterClient | undefined {
      return client;
    },
    nodes: [],
    async cluster(specs: NodeOptions[]): Promise<NodeProcess[]> {
      const s = harness.schema;
      client = await startClient(s);
      await withPg((c) => c.query(sinkTableSql(s)));
      harness.nodes = await Promise.all(specs.map((spec) => NodeProcess.spawn(s, spec)));
      return harness.nodes;
    },
  };

  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
  });

  afterEach(async () => {
    await Promise.all(harness.nodes.map((n) => n.stop().catch(() => n.kill())));
    harness.nodes = [];
    await client?.stop();
    client = undefined;
    await drop?.();
    drop = undefined;
    schema = undefined;
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
  });

  return harness;
}
