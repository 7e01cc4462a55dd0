/**
 * R05 idempotent trigger race from several processes (PostgreSQL): 50 concurrent triggers with the
 * same key, 10 from each of 5 processes (4 node processes and this one). Exactly one run is stored,
 * all 50 answers carry its id, it executes once; while it is unfinished the key returns it, and once
 * it has ended the key is free again (the documented window: API.md, `key`), asserted both ways.
 * (In one process, on memory, SQLite and PostgreSQL: test/conformance, "idempotency key"; storage
 * level, 50 racing inserts: test/conformance/storage-conformance.ts.)
 */
import 'reflect-metadata';
import type { TaskRun } from '../../src';
import { sinkRows, useCluster } from '../helpers/pg-cluster';
import { describeWithPostgres, withPg } from '../helpers/services';

jest.setTimeout(180_000); // node processes may take up to NODE_START_MS to start on a busy machine

describeWithPostgres('R05 idempotent trigger race from 5 processes (PostgreSQL)', () => {
  const h = useCluster();

  it('50 concurrent triggers with one key: one run, one id, one execution; after it ended the key gives a new run', async () => {
    const nodes = await h.cluster([{ nodeId: 'p1' }, { nodeId: 'p2' }, { nodeId: 'p3' }, { nodeId: 'p4' }]);
    const svc = h.client!.service;
    // long enough that the 50 triggers, the read and the trigger after them end before it, on a busy machine
    const options = { definition: 'cluster.sink', input: { key: 'k1', ms: 8000 }, key: 'k1' };
    const answers = await Promise.all([
      ...nodes.flatMap((n) => Array.from({ length: 10 }, () => n.call<TaskRun>('trigger', { options }))),
      ...Array.from({ length: 10 }, () => svc.trigger(options)),
    ]);
    expect(answers).toHaveLength(50);
    const ids = new Set(answers.map((r) => r.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    const rows = await withPg((c) => c.query<{ id: string }>(`select id from "${h.schema}".runs where definition_id = 'cluster.sink'`));
    expect(rows.rows.map((r) => r.id)).toEqual([id]);

    // still unfinished: the key returns the same run, from any process
    const again = await nodes[2].call<TaskRun>('trigger', { options });
    expect(again.id).toBe(id);
    const ended = await svc.wait(id, { timeout: 20_000 });
    expect(ended.status).toBe('success');
    expect((await sinkRows(h.schema)).map((r) => [r.key, r.run_id])).toEqual([['k1', id]]);

    // ended: the key is free, a new run is made (once, however many ask)
    const short = { ...options, input: { key: 'k1', ms: 100 } };
    const after = await Promise.all(nodes.map((n) => n.call<TaskRun>('trigger', { options: short })));
    expect(new Set(after.map((r) => r.id)).size).toBe(1);
    expect(after[0].id).not.toBe(id);
    await svc.wait(after[0].id, { timeout: 20_000 });
    const total = await withPg((c) => c.query<{ n: number }>(`select count(*)::int as n from "${h.schema}".runs where definition_id = 'cluster.sink'`));
    expect(total.rows[0].n).toBe(2);
  });
});
