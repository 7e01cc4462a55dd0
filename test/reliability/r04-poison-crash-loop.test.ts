/**
 * R04 poison run (crash loop) on PostgreSQL, scaled down: one `cluster.poison` run
 * (maxCrashRecoveries 3) that kills its node process with `process.exit(1)` on every attempt, among
 * 200 normal runs, on two real node processes (test/fixtures/pg-node.ts) that a supervisor in the
 * test restarts whenever one dies. The poison run ends `failed` with CRASH_LOOP after at most 3
 * recoveries (attempt incremented at each claim: 4 in the end, the fourth claim refusing to run
 * it); node restarts, all caused by it, are at most 3 and match its executions; every normal run
 * completes. The out-of-memory variant is the same with `cluster.hog`, which allocates until V8's
 * heap limit (nodes started with --max-old-space-size) aborts its process. (The SQLite variant is
 * in test/chaos/sqlite-crash-recovery.test.ts.)
 */
import { NodeProcess, sinkRows, sleep, useCluster } from '../helpers/pg-cluster';
import { describeWithPostgres } from '../helpers/services';

const NORMAL = 200;
const LEASE_MS = 1500; // a dead node's runs are taken up once their lease expired
/** enough for a node to run its normal work; a few of the hog's 8 MB arrays exhaust it */
const HEAP_MB = 128;

interface Variant {
  name: string;
  definition: 'cluster.poison' | 'cluster.hog';
  maxOldSpaceMb?: number;
  /** how a node the poison run killed ended: its exit code, or the signal that ended it */
  death: (ended: string) => boolean;
}

const VARIANTS: Variant[] = [
  { name: 'process.exit(1)', definition: 'cluster.poison', death: (ended) => ended === 'exit 1' },
  {
    name: 'out of memory',
    definition: 'cluster.hog',
    maxOldSpaceMb: HEAP_MB,
    // V8 reports "JavaScript heap out of memory" and ends the process with abort(): SIGABRT
    death: (ended) => ended === 'signal SIGABRT, out of memory',
  },
];

describeWithPostgres('R04 a poison run that kills its PostgreSQL node process', () => {
  const h = useCluster();

  test.each(VARIANTS)(
    '$name: ends failed with CRASH_LOOP after <= 3 recoveries; <= 3 node restarts; all normal runs complete',
    async (variant) => {
      const ids = ['a', 'b'];
      const spec = { leaseMs: LEASE_MS, maxOldSpaceMb: variant.maxOldSpaceMb };
      await h.cluster(ids.map((id) => ({ nodeId: `${id}0`, ...spec })));
      const service = h.client!.service;
      const normal = await Promise.all(
        Array.from({ length: NORMAL / 2 }, (_, i) => service.trigger({ definition: 'cluster.sink', input: { key: `n${i}`, ms: 10 } })),
      );
      const poison = await service.trigger({ definition: variant.definition, input: { key: 'poison' } });
      normal.push(
        ...(await Promise.all(
          Array.from({ length: NORMAL / 2 }, (_, i) => service.trigger({ definition: 'cluster.sink', input: { key: `n${NORMAL / 2 + i}`, ms: 10 } })),
        )),
      );

      // the supervisor: keeps both nodes alive, restarting one whenever it died
      const exits: string[] = [];
      const restartDead = async () => {
        for (let i = 0; i < h.nodes.length; i++) {
          const node = h.nodes[i];
          if (node.child.exitCode === null && node.child.signalCode === null) continue;
          const oom = node.stderr.includes('JavaScript heap out of memory') ? ', out of memory' : '';
          exits.push(`${node.child.exitCode !== null ? `exit ${node.child.exitCode}` : `signal ${node.child.signalCode}`}${oom}`);
          h.nodes[i] = await NodeProcess.spawn(h.schema, { nodeId: `${ids[i]}${exits.length}`, ...spec });
        }
      };
      const deadline = Date.now() + 90_000;
      for (;;) {
        const run = await service.get(poison.id);
        if (run?.status === 'failed') break;
        if (Date.now() > deadline) throw new Error(`poison run still ${run?.status} after ${exits.length} restarts`);
        await restartDead(); // a restart takes seconds: the last execution and the failure can both happen meanwhile
        await sleep(100);
      }
      await restartDead(); // the node the last execution killed, if it died while the loop was restarting another

      const failed = await service.get(poison.id);
      expect(failed?.error?.code).toBe('CRASH_LOOP');
      // maxCrashRecoveries 3: its first attempt and 2 recoveries ran it (each killing its node); the
      // third recovery's claim failed it without running it
      const executions = await sinkRows(h.schema, "phase = 'poison'");
      expect(executions.map((e) => e.attempt)).toEqual([1, 2, 3]);
      expect(failed?.attempt).toBe(4);
      // every restart was caused by it: a node ending as the poison run ends it
      expect(exits).toHaveLength(3);
      for (const ended of exits) expect({ ended, causedByPoison: variant.death(ended) }).toEqual({ ended, causedByPoison: true });

      // the normal runs were not lost (those held by a killed node were taken up again)
      for (const r of normal) expect((await service.wait(r.id, { timeout: 30_000 })).status).toBe('success');
      // no node died after the poison run ended
      expect(h.nodes.every((n) => n.child.exitCode === null && n.child.signalCode === null)).toBe(true);
    },
    240_000,
  ); // node processes may take up to NODE_START_MS to start on a busy machine
});
