/**
 * RELIABILITY R06 on SQLite: trigger({ transaction }) with the host's own better-sqlite3
 * connection to the storage's file, inside db.transaction(fn) and after BEGIN; rollback leaves no
 * run and no execution, commit exactly one execution; every refusal of a bad handle.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import {
  memoryStorage,
  QueueFullError,
  sqliteStorage,
  TaskNotFoundError,
  TaskTriggerRefusedError,
  TaskValidationError,
  TransactionRefusedError,
  type TaskRun,
} from '../../src';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { tempDir } from '../helpers/temp-files';
import { TRANSACTION_TASKS } from '../fixtures/transaction-tasks';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const POLL_MS = 100;

describe('transactional trigger on SQLite (R06)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  const handles: Database.Database[] = [];
  const harnesses: Harness[] = [];

  beforeEach(() => {
    tmp = tempDir('tasklane-txn-');
    file = join(tmp.dir, 'tasks.db');
  });

  afterEach(async () => {
    for (const db of handles.splice(0)) if (db.open) db.close();
    for (const h of harnesses.splice(0)) await h.stop();
    tmp.remove();
  });

  /** the engine on the file, and the host's own connection with its orders table */
  async function setUp(options: { pollMs?: number } = {}): Promise<{ h: Harness; db: Database.Database; submitted: string[] }> {
    const h = await startHarness({ storage: sqliteStorage({ file }), tasks: TRANSACTION_TASKS, pollMs: options.pollMs ?? POLL_MS });
    harnesses.push(h);
    const submitted: string[] = [];
    h.service.on('submitted', ({ run }) => {
      submitted.push(run.id);
    });
    const db = open();
    db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    return { h, db, submitted };
  }

  function open(path = file, options?: Database.Options): Database.Database {
    const db = new Database(path, options);
    handles.push(db);
    return db;
  }

  /** counted on a connection of its own: what is committed */
  function count(table: 'tasklane_runs' | 'orders'): number {
    const reader = new Database(file, { readonly: true });
    try {
      return (reader.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      reader.close();
    }
  }

  it('db.transaction(fn) that throws: the run was inserted before trigger() returned, then rolled back with the order; nothing runs, wait() says TaskNotFoundError', async () => {
    const { h, db, submitted } = await setUp();
    const insertOrder = db.prepare('INSERT INTO orders (id) VALUES (?)');
    let triggered: Promise<TaskRun> | undefined;
    let seenInside = -1;
    const placeOrder = db.transaction((orderId: string) => {
      insertOrder.run(orderId);
      triggered = h.service.trigger({ definition: 'tx.followUp', input: { orderId }, transaction: db });
      // synchronous: the run is in the host's transaction already
      seenInside = (db.prepare('SELECT count(*) AS n FROM tasklane_runs').get() as { n: number }).n;
      throw new Error('payment declined');
    });
    expect(() => placeOrder('o1')).toThrow('payment declined');
    expect(seenInside).toBe(1);
    const run = await triggered!;
    expect(run.status).toBe('pending');

    await sleep(2 * POLL_MS + 100);
    expect(count('tasklane_runs')).toBe(0);
    expect(count('orders')).toBe(0);
    expect(h.recorder.calls).toEqual([]);
    expect(submitted).toEqual([]);
    await expect(h.service.wait(run.id, { timeout: 2000 })).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await h.service.get(run.id)).toBeNull();
  });

  it('db.transaction(fn) that commits: the order and the run are both stored, exactly one execution, one submitted event', async () => {
    const { h, db, submitted } = await setUp();
    const insertOrder = db.prepare('INSERT INTO orders (id) VALUES (?)');
    let triggered: Promise<TaskRun> | undefined;
    db.transaction((orderId: string) => {
      insertOrder.run(orderId);
      triggered = h.service.trigger({ definition: 'tx.followUp', input: { orderId }, transaction: db });
    })('o2');
    const run = await triggered!;
    const ended = await h.service.wait(run.id, { timeout: 5000 });
    expect(ended.status).toBe('success');
    expect(ended.output).toBe('o2');
    await sleep(2 * POLL_MS + 100);
    expect(h.recorder.calls).toEqual(['o2']);
    expect(count('orders')).toBe(1);
    expect(count('tasklane_runs')).toBe(1);
    expect(submitted).toEqual([run.id]);
  });

  it('BEGIN IMMEDIATE ... await trigger() ... ROLLBACK: a wait() begun before the rollback ends with TaskNotFoundError; the engine keeps polling without stalling the host', async () => {
    const { h, db, submitted } = await setUp();
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO orders (id) VALUES (?)').run('o3');
    const run = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'o3' }, transaction: db });
    const waited = h.service.wait(run.id, { timeout: 10_000 });
    let settled = false;
    const outcome = waited
      .then(
        () => 'ended',
        (err: unknown) => err,
      )
      .finally(() => (settled = true));
    // the host holds the write lock across awaits while the engine polls (every 100 ms): its
    // claims must not block this thread for busy_timeout (5 s)
    const t0 = Date.now();
    await sleep(3 * POLL_MS);
    // not blocked for busy_timeout (5 s); what a busy machine adds to 300 ms stays far below
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(submitted).toEqual([]);
    expect(settled).toBe(false); // the transaction is open: the run may still come to exist
    db.exec('ROLLBACK');
    const t1 = Date.now();
    expect(await outcome).toBeInstanceOf(TaskNotFoundError);
    // the transaction watch looks at least once a second
    expect(Date.now() - t1).toBeLessThan(3000);
    await sleep(2 * POLL_MS + 100);
    expect(count('tasklane_runs')).toBe(0);
    expect(count('orders')).toBe(0);
    expect(h.recorder.calls).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('BEGIN ... await trigger() ... COMMIT: the local engine is woken at once after the commit (its poll is 30 s)', async () => {
    const { h, db, submitted } = await setUp({ pollMs: 30_000 });
    const events: string[] = [];
    for (const name of ['submitted', 'started', 'done'] as const) {
      h.service.on(name, () => {
        events.push(name);
      });
    }
    db.exec('BEGIN');
    db.prepare('INSERT INTO orders (id) VALUES (?)').run('o4');
    const run = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'o4' }, transaction: db });
    const waited = h.service.wait(run.id, { timeout: 5000 });
    await sleep(50);
    expect(h.recorder.calls).toEqual([]); // not committed: not runnable
    db.exec('COMMIT');
    const t0 = Date.now();
    const ended = await waited;
    expect(ended.status).toBe('success');
    expect(Date.now() - t0).toBeLessThan(5000); // woken by the commit: the poll would take 30 s
    expect(h.recorder.calls).toEqual(['o4']);
    expect(submitted).toEqual([run.id]);
    expect(events).toEqual(['submitted', 'started', 'done']);
    expect(count('orders')).toBe(1);
  });

  it('an idempotency key inside one transaction gives one run; a committed unfinished run with the key is returned', async () => {
    const { h, db } = await setUp();
    const runs: Array<Promise<TaskRun>> = [];
    db.transaction(() => {
      runs.push(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k1' }, key: 'order-k', transaction: db }));
      runs.push(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k1-again' }, key: 'order-k', transaction: db }));
    })();
    const [first, second] = await Promise.all(runs);
    expect(second.id).toBe(first.id);
    expect(count('tasklane_runs')).toBe(1);
    await h.service.wait(first.id, { timeout: 5000 });
    expect(h.recorder.calls).toEqual(['k1']);

    // a pending run with the key (delayed), committed: a transactional trigger returns it
    const held = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k2' }, key: 'held', delay: 60_000 });
    let again: Promise<TaskRun> | undefined;
    db.transaction(() => {
      again = h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'k2-again' }, key: 'held', transaction: db });
    })();
    expect((await again!).id).toBe(held.id);
    expect(count('tasklane_runs')).toBe(2);
  });

  it('a parent triggered earlier in the same transaction is found; both go with a rollback', async () => {
    const { h, db } = await setUp();
    db.exec('BEGIN');
    const parent = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'p' }, delay: 60_000, transaction: db });
    const child = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'c' }, parent: parent.id, transaction: db });
    expect(child.parentId).toBe(parent.id);
    await expect(
      h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'x' }, after: 'r_doesnotexist0000000000', transaction: db }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
    db.exec('ROLLBACK');
    await expect(h.service.wait(child.id, { timeout: 2000 })).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(count('tasklane_runs')).toBe(0);
  });

  it('refusals inside a transaction store nothing and leave the host transaction usable', async () => {
    const { h, db } = await setUp();
    db.exec('BEGIN');
    db.prepare('INSERT INTO orders (id) VALUES (?)').run('kept');
    await expect(h.service.trigger({ definition: 'tx.guarded', input: { orderId: 'refuse' }, transaction: db })).rejects.toBeInstanceOf(
      TaskTriggerRefusedError,
    );
    await expect(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 42 } as never, transaction: db })).rejects.toBeInstanceOf(
      TaskValidationError,
    );
    await expect(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'x' }, transaction: db, bogus: 1 } as never)).rejects.toThrow(
      'unknown option',
    );
    expect((db.prepare('SELECT count(*) AS n FROM tasklane_runs').get() as { n: number }).n).toBe(0);
    db.exec('COMMIT');
    expect(count('orders')).toBe(1);
    expect(count('tasklane_runs')).toBe(0);
    expect(h.recorder.hooks).toEqual(['before:refuse']);
  });

  it('a synchronous onBeforeTrigger runs inside db.transaction(fn); an asynchronous one needs BEGIN ... await ... COMMIT', async () => {
    const { h, db } = await setUp();
    let sync: Promise<TaskRun> | undefined;
    db.transaction(() => {
      sync = h.service.trigger({ definition: 'tx.guarded', input: { orderId: 'fine' }, transaction: db });
    })();
    await h.service.wait((await sync!).id, { timeout: 5000 });

    // inside db.transaction(fn), the asynchronous hook answers after the commit: refused, nothing stored
    let late: Promise<TaskRun> | undefined;
    db.transaction(() => {
      db.prepare('INSERT INTO orders (id) VALUES (?)').run('late');
      late = h.service.trigger({ definition: 'tx.asyncHook', input: { orderId: 'late' }, transaction: db });
    })();
    await expect(late!).rejects.toThrow(TransactionRefusedError);
    await expect(late!).rejects.toThrow('not in a transaction');
    expect(count('tasklane_runs')).toBe(1);

    db.exec('BEGIN');
    const run = await h.service.trigger({ definition: 'tx.asyncHook', input: { orderId: 'awaited' }, transaction: db });
    db.exec('COMMIT');
    expect((await h.service.wait(run.id, { timeout: 5000 })).status).toBe('success');
    expect(h.recorder.calls.sort()).toEqual(['awaited', 'fine']);
  });

  it('refuses handles it cannot use, before anything is written', async () => {
    const { h, db } = await setUp();
    const trigger = (transaction: unknown) =>
      h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'r' }, transaction: transaction as Database.Database });
    const refused = async (transaction: unknown, message: string | RegExp) => {
      const err = await trigger(transaction).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransactionRefusedError);
      expect((err as TransactionRefusedError).code).toBe('TRANSACTION_REFUSED');
      expect((err as Error).message).toMatch(message);
    };

    await refused(db, 'not in a transaction'); // no BEGIN

    const other = open(join(tmp.dir, 'other.db'));
    other.exec('CREATE TABLE t (x)');
    other.exec('BEGIN');
    await refused(other, 'not on the storage');

    const memory = open(':memory:');
    memory.exec('BEGIN');
    await refused(memory, 'in-memory');

    const readonly = open(file, { readonly: true });
    await refused(readonly, 'read-only');

    const closed = open();
    closed.close();
    await refused(closed, 'closed');

    await refused(new Client(), 'PostgreSQL client');
    await refused({}, 'better-sqlite3 Database');
    await refused(null, 'expected a pg client');

    // another path to the same file is the same file
    const samePath = open(join(tmp.dir, '.', 'tasks.db'));
    samePath.exec('BEGIN');
    const run = await trigger(samePath);
    samePath.exec('COMMIT');
    expect((await h.service.wait(run.id, { timeout: 5000 })).status).toBe('success');
    expect(count('tasklane_runs')).toBe(1);
  });

  it('a storage that is not open yet (engine not started) is refused rather than blocking the host', async () => {
    const h = await startHarness({ storage: sqliteStorage({ file }), tasks: TRANSACTION_TASKS, start: false });
    const db = open();
    db.exec('BEGIN');
    await expect(h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'x' }, transaction: db })).rejects.toThrow('not open yet');
    db.exec('ROLLBACK');
    harnesses.push(h);
  });

  it('memory storage refuses a transaction', async () => {
    const h = await startHarness({ storage: memoryStorage(), tasks: TRANSACTION_TASKS });
    harnesses.push(h);
    const db = open(':memory:');
    db.exec('BEGIN');
    const err = await h.service.trigger({ definition: 'tx.followUp', input: { orderId: 'x' }, transaction: db }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionRefusedError);
    expect((err as Error).message).toMatch('MemoryStorage cannot store a run through a host transaction');
    expect((await h.service.listRuns()).items).toEqual([]);
  });

  it('maxBacklog counts transactional triggers: past it QueueFullError, nothing stored, the host transaction goes on; a rollback gives the place back', async () => {
    const { h, db } = await setUp();
    await h.service.disable('tx.bounded'); // its runs stay pending
    const insertOrder = db.prepare('INSERT INTO orders (id) VALUES (?)');
    db.exec('BEGIN');
    insertOrder.run('o1');
    await h.service.trigger({ definition: 'tx.bounded', input: { orderId: 'o1' }, transaction: db });
    await h.service.trigger({ definition: 'tx.bounded', input: { orderId: 'o2' }, transaction: db });
    db.exec('COMMIT');
    expect(count('tasklane_runs')).toBe(2);

    db.exec('BEGIN');
    insertOrder.run('o3');
    await expect(h.service.trigger({ definition: 'tx.bounded', input: { orderId: 'o3' }, transaction: db })).rejects.toBeInstanceOf(QueueFullError);
    insertOrder.run('o4'); // the host's transaction is still usable
    db.exec('COMMIT');
    expect(count('tasklane_runs')).toBe(2);
    expect(count('orders')).toBe(3);

    // a run triggered in a transaction that rolls back does not hold a place
    const [pending] = (await h.service.listRuns({ definition: 'tx.bounded', limit: 1 })).items;
    await h.service.abort({ id: pending.id });
    db.exec('BEGIN');
    await h.service.trigger({ definition: 'tx.bounded', input: { orderId: 'o5' }, transaction: db });
    db.exec('ROLLBACK');
    db.exec('BEGIN');
    await h.service.trigger({ definition: 'tx.bounded', input: { orderId: 'o6' }, transaction: db });
    db.exec('COMMIT');
    const left = (await h.service.listRuns({ definition: 'tx.bounded', status: 'pending', limit: 10 })).items.map(
      (r) => (r.input as { orderId: string }).orderId,
    );
    expect(left.sort()).toEqual(['o1', 'o2', 'o6'].filter((o) => o !== (pending.input as { orderId: string }).orderId));
  });
});
