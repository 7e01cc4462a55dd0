/**
 * RELIABILITY R06 on PostgreSQL: trigger({ transaction }) with the host's own pg client after
 * BEGIN. Rollback leaves no run, no execution and no wake-up; commit gives exactly one execution,
 * and the wake-up NOTIFY, sent through the host's transaction, reaches another node at commit
 * (not before) while its polls are 30 s apart. Idempotency keys across open transactions, a
 * host savepoint rolled back, and every refusal of a bad handle.
 */
import 'reflect-metadata';
import Database from 'better-sqlite3';
import { Client, Pool, type Notification, type PoolClient } from 'pg';
import {
  postgresDistribution,
  postgresStorage,
  TaskNotFoundError,
  TaskTriggerRefusedError,
  TaskValidationError,
  TransactionRefusedError,
  type AcceptRules,
  type TaskRun,
} from '../../src';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { describeWithPostgres, freshPgSchema, PG_URL, randomSchemaName, withPg } from '../helpers/services';
import { TRANSACTION_TASKS } from '../fixtures/transaction-tasks';

jest.setTimeout(30_000);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const POLL_MS = 200;

describeWithPostgres('transactional trigger on PostgreSQL (R06)', () => {
  let schema: string;
  let drop: () => Promise<void>;
  let hostPool: Pool;
  const harnesses: Harness[] = [];
  const clients: PoolClient[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
    hostPool = new Pool({ connectionString: PG_URL, max: 4 });
    hostPool.on('error', () => undefined);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) {
      await c.query('rollback').catch(() => undefined);
      c.release();
    }
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    for (const h of harnesses.splice(0)) await h.stop();
    await hostPool.end();
    await drop();
  });

  /** a node on the schema, with its own storage and distribution pools */
  async function node(nodeId: string, options: { pollMs?: number; accept?: AcceptRules } = {}): Promise<{ h: Harness; submitted: string[] }> {
    const pollMs = options.pollMs ?? POLL_MS;
    const h = await startHarness({
      storage: postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 }),
      distribution: postgresDistribution({ connectionString: PG_URL, pollMs, heartbeatMs: 1000 }),
      tasks: TRANSACTION_TASKS,
      nodeId,
      pollMs,
      accept: options.accept,
    });
    harnesses.push(h);
    const submitted: string[] = [];
    h.service.on('submitted', ({ run }) => {
      submitted.push(run.id);
    });
    return { h, submitted };
  }

  async function setUp(): Promise<{ h: Harness; submitted: string[] }> {
    const a = await node('a');
    await withPg((c) => c.query(`create table "${schema}".orders (id text primary key)`));
    return a;
  }

  async function begin(): Promise<PoolClient> {
    const client = await hostPool.connect();
    clients.push(client);
    await client.query('begin');
    return client;
  }

  async function finish(client: PoolClient, how: 'commit' | 'rollback'): Promise<void> {
    await client.query(how);
    clients.splice(clients.indexOf(client), 1);
    client.release();
  }

  /** committed rows, read on a connection of their own */
  const count = (table: 'runs' | 'orders') =>
    withPg(async (c) => (await c.query<{ n: number }>(`select count(*)::int as n from "${schema}".${table}`)).rows[0].n);

  function settledFlag(p: Promise<unknown>): { settled: () => boolean; outcome: Promise<unknown> } {
    let done = false;
    const outcome = p
      .then(
        (v) => v,
        (e: unknown) => e,
      )
      .finally(() => (done = true));
    return { settled: () => done, outcome };
  }

  it('ROLLBACK: no run row, no execution after 2x the poll interval, no submitted event; a wait() begun inside the transaction ends with TaskNotFoundError', async () => {
    const { h, submitted } = await setUp();
    const client = await begin();
    await client.query(`insert into "${schema}".orders (id) values ($1)`, ['o1']);
    const run = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'o1' }, transaction: client });
    expect(run.status).toBe('pending');
    const waited = settledFlag(h.service.wait(run.id, { timeout: 10_000 }));
    await sleep(100);
    expect(waited.settled()).toBe(false);
    expect(await count('runs')).toBe(0); // not visible outside the transaction
    await finish(client, 'rollback');
    expect(await waited.outcome).toBeInstanceOf(TaskNotFoundError);
    await sleep(2 * POLL_MS + 100);
    expect(await count('runs')).toBe(0);
    expect(await count('orders')).toBe(0);
    expect(h.recorder.calls).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('COMMIT: the order and the run are both stored, exactly one execution; a wait() begun inside the transaction sees it end', async () => {
    const { h, submitted } = await setUp();
    const client = await begin();
    await client.query(`insert into "${schema}".orders (id) values ($1)`, ['o2']);
    const run = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'o2' }, transaction: client });
    const waited = h.service.wait(run.id, { timeout: 10_000 });
    await sleep(100);
    expect(h.recorder.calls).toEqual([]);
    await finish(client, 'commit');
    const ended = await waited;
    expect(ended.status).toBe('success');
    expect(ended.output).toBe('o2');
    await sleep(2 * POLL_MS + 100);
    expect(h.recorder.calls).toEqual(['o2']);
    expect(await count('runs')).toBe(1);
    expect(await count('orders')).toBe(1);
    expect(submitted).toEqual([run.id]);
  });

  it('another node, polling every 30 s, is woken by the NOTIFY sent in the transaction: nothing at rollback or before the commit, once at commit', async () => {
    const a = await node('a', { accept: { include: [] } }); // triggers only
    const b = await node('b', { pollMs: 30_000 });
    const listener = new Client({ connectionString: PG_URL });
    listener.on('error', () => undefined);
    await listener.connect();
    cleanups.push(() => listener.end());
    const notices: Array<{ at: number; payload: string }> = [];
    listener.on('notification', (msg: Notification) => {
      if (msg.channel === `${schema}.wake`) notices.push({ at: Date.now(), payload: msg.payload ?? '' });
    });
    await listener.query(`listen "${schema}.wake"`);
    await sleep(100);
    notices.length = 0;

    const rolledBack = await begin();
    const lost = await a.h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'lost' }, transaction: rolledBack });
    await sleep(200);
    await finish(rolledBack, 'rollback');
    await expect(a.h.service.wait(lost.id, { timeout: 5000 })).rejects.toBeInstanceOf(TaskNotFoundError);
    await sleep(300);
    expect(notices).toEqual([]);
    expect(b.h.recorder.calls).toEqual([]);

    const events: string[] = [];
    for (const name of ['submitted', 'done'] as const) {
      a.h.service.on(name, ({ run: r }) => {
        events.push(`${name}:${r.id}`);
      });
    }
    const committed = await begin();
    const run = await a.h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'kept' }, transaction: committed });
    const waited = a.h.service.wait(run.id, { timeout: 20_000 });
    await sleep(300);
    expect(notices).toEqual([]); // held by the transaction
    const t0 = Date.now();
    await finish(committed, 'commit');
    const ended = await waited;
    const took = Date.now() - t0;
    expect(ended.status).toBe('success');
    expect(ended.nodeId).toBe('b');
    expect(took).toBeLessThan(10_000); // b's polls are 30 s apart: only the NOTIFY can have woken it (ms when idle; the bench has figures)
    expect(b.h.recorder.calls).toEqual(['kept']);
    expect(a.h.recorder.calls).toEqual([]);
    await sleep(100);
    // one wake-up, at commit, sent by a's transaction (a does not wake the cluster a second time)
    expect(notices).toHaveLength(1);
    expect(notices[0].at).toBeGreaterThanOrEqual(t0);
    expect(JSON.parse(notices[0].payload)).toEqual({ tx: 'a', w: { 'tx.followUp': [0] } });
    // the end reached a before its watch looked again: submitted is announced first all the same
    expect(events).toEqual([`submitted:${run.id}`, `done:${run.id}`]);
  });

  it('an idempotency key inside one transaction gives one run', async () => {
    const { h } = await setUp();
    const client = await begin();
    const first = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k1' }, key: 'order-k', transaction: client });
    const second = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k1-again' }, key: 'order-k', transaction: client });
    expect(second.id).toBe(first.id);
    await finish(client, 'commit');
    await h.service.wait(first.id, { timeout: 10_000 });
    expect(await count('runs')).toBe(1);
    expect(h.recorder.calls).toEqual(['k1']);
  });

  it('a key held by another open transaction: the second trigger waits for its commit, then gets that run', async () => {
    const { h } = await setUp();
    const trigger = (client: PoolClient, orderId: string) =>
      h.service.trigger({ definition: 'tx.followUp', input: { orderId }, key: 'shared', delay: 60_000, transaction: client });

    const tx1 = await begin();
    const held = await trigger(tx1, 'first');
    const tx2 = await begin();
    const second = settledFlag(trigger(tx2, 'second'));
    await sleep(300);
    expect(second.settled()).toBe(false); // the unique key index waits for tx1
    await finish(tx1, 'commit');
    expect(((await second.outcome) as TaskRun).id).toBe(held.id);
    await finish(tx2, 'commit');
    expect(await count('runs')).toBe(1);
  });

  it('a key whose holder rolls back: the waiting trigger inserts its own run', async () => {
    const { h } = await setUp();
    const trigger = (client: PoolClient, orderId: string) =>
      h.service.trigger({ definition: 'tx.followUp', input: { orderId }, key: 'free-after-rollback', delay: 60_000, transaction: client });
    const tx1 = await begin();
    const dropped = await trigger(tx1, 'first');
    const tx2 = await begin();
    const second = settledFlag(trigger(tx2, 'second'));
    await sleep(300);
    expect(second.settled()).toBe(false);
    await finish(tx1, 'rollback');
    const own = (await second.outcome) as TaskRun;
    expect(own.id).not.toBe(dropped.id);
    expect(own.input).toEqual({ orderId: 'second' });
    await finish(tx2, 'commit');
    const rows = await withPg(async (c) => (await c.query<{ id: string }>(`select id from "${schema}".runs`)).rows.map((r) => r.id));
    expect(rows).toEqual([own.id]);
  });

  it('a host savepoint rolled back takes the run with it, though the transaction commits', async () => {
    const { h, submitted } = await setUp();
    const client = await begin();
    await client.query('savepoint host_step');
    const run = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'sp' }, transaction: client });
    const waited = h.service.wait(run.id, { timeout: 10_000 });
    await client.query('rollback to savepoint host_step');
    await client.query(`insert into "${schema}".orders (id) values ($1)`, ['sp']);
    await finish(client, 'commit');
    await expect(waited).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await count('runs')).toBe(0);
    expect(await count('orders')).toBe(1);
    await sleep(2 * POLL_MS);
    expect(h.recorder.calls).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('refusals inside a transaction store nothing and leave the host transaction usable', async () => {
    const { h } = await setUp();
    const client = await begin();
    await expect(h.service.trigger({ definition: 'tx.guarded', input: { orderId: 'refuse' }, transaction: client })).rejects.toBeInstanceOf(
      TaskTriggerRefusedError,
    );
    await expect(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 7 } as never, transaction: client })).rejects.toBeInstanceOf(
      TaskValidationError,
    );
    await expect(
      h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'p' }, parent: 'r_missing00000000000000000', transaction: client }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
    await client.query(`insert into "${schema}".orders (id) values ($1)`, ['kept']);
    await finish(client, 'commit');
    expect(await count('orders')).toBe(1);
    expect(await count('runs')).toBe(0);
    expect(h.recorder.hooks).toEqual(['before:refuse']);
  });

  it('refuses handles it cannot use, before anything is written', async () => {
    const { h } = await setUp();
    const refused = async (transaction: unknown, message: string | RegExp) => {
      const err = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'r' }, transaction: transaction as PoolClient }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransactionRefusedError);
      expect((err as TransactionRefusedError).code).toBe('TRANSACTION_REFUSED');
      expect((err as Error).message).toMatch(message);
    };

    const idle = await hostPool.connect();
    clients.push(idle);
    await refused(idle, 'not in a transaction'); // no BEGIN

    const aborted = await begin();
    await aborted.query('select 1/0').catch(() => undefined);
    await refused(aborted, 'aborted');

    await refused(hostPool, 'pg Pool');
    const sqlite = new Database(':memory:');
    sqlite.exec('BEGIN');
    await refused(sqlite, 'better-sqlite3');
    sqlite.close();
    await refused({ rows: [] }, 'must be a pg client');

    // a client on another database of the server
    const otherDb = randomSchemaName('tl_txn_db_');
    await withPg((c) => c.query(`create database "${otherDb}"`));
    cleanups.push(() => withPg((c) => c.query(`drop database if exists "${otherDb}"`)));
    const other = new Client({ connectionString: PG_URL.replace(/\/[^/]*$/, `/${otherDb}`) });
    other.on('error', () => undefined);
    await other.connect();
    cleanups.push(() => other.end());
    await other.query('begin');
    await refused(other, `connected to database "${otherDb}"`);
    // the refusal left the other client's transaction usable
    expect((await other.query('select 1 as one')).rows).toEqual([{ one: 1 }]);

    expect(await count('runs')).toBe(0);
    expect(h.recorder.hooks).toEqual([]);
  });
});
