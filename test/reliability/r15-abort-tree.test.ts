/**
 * R15 abort tree: a parent with 100 children spread over 3 nodes (in one process: 3 engines on one
 * store; on PostgreSQL with the NOTIFY distribution), then abort(parentId). Children running on
 * the node that received abort() see their signal within 100 ms, those on other nodes within a
 * heartbeat (a third of the lease, or the distribution's broadcast); no child starts once abort()
 * has answered; the parent ends aborted. abort() of a finished run changes nothing and returns it.
 */
import 'reflect-metadata';
import { IsInt, IsOptional, Min } from 'class-validator';
import { Task, TaskAbortedError, type TaskDefinition, type TaskRun, type TaskRunParams } from '../../src';
import { postgresDistribution } from '../../src/adapters/postgres';
import { assertNoLiveEngines, startHarness, type Harness } from '../helpers/engine-harness';
import { PG_URL } from '../helpers/services';
import { describeEachStorage, type Namespace } from './storages';

const LEASE_MS = 1500;
const CHILDREN = 100;

interface Seen {
  node: string;
  startedAt: number;
  abortedAt?: number;
}
/** what each child execution saw, by run id (all engines run in this process) */
const seen = new Map<string, Seen[]>();

class ParentInput {
  @IsInt() @Min(1) children!: number;
  /** ms between two child triggers (0: all at once) */
  @IsOptional() @IsInt() @Min(0) gapMs?: number;
}

@Task({ id: 'r15.parent', title: 'Starts children, then waits until aborted', input: ParentInput })
class ParentTask implements TaskDefinition<ParentInput, never> {
  static refused = 0;
  async run({ input, controller }: TaskRunParams<ParentInput, never>) {
    for (let i = 0; i < input.children; i++) {
      try {
        // deliberately not checking isAborted(): the engine must refuse children of an aborted run
        await controller.trigger({ definition: 'r15.child', name: `child-${i}` });
      } catch (err) {
        if (!(err instanceof TaskAbortedError)) throw err;
        ParentTask.refused++;
      }
      if (input.gapMs) await new Promise((r) => setTimeout(r, input.gapMs));
    }
    await controller.sleep(60_000);
    return controller.response.aborted();
  }
}

@Task({ id: 'r15.child', title: 'Runs until aborted', concurrency: 30 })
class ChildTask implements TaskDefinition<undefined, string> {
  constructor() {}
  async run({ controller, run }: TaskRunParams<undefined, string>) {
    const entry: Seen = { node: run.nodeId ?? '?', startedAt: Date.now() };
    seen.set(run.id, [...(seen.get(run.id) ?? []), entry]);
    const onAbort = () => (entry.abortedAt ??= Date.now());
    if (controller.signal.aborted) onAbort();
    controller.signal.addEventListener('abort', onAbort);
    const finished = await controller.sleep(30_000);
    return finished ? controller.response.done('not aborted') : controller.response.aborted();
  }
}

@Task({ id: 'r15.quick', title: 'Ends at once' })
class QuickTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('quick');
  }
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function childrenOf(h: Harness, parentId: string): Promise<TaskRun[]> {
  const all: TaskRun[] = [];
  let cursor: string | undefined;
  do {
    const page = await h.service.listRuns({ parentId, limit: 200, cursor });
    all.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return all;
}

describeEachStorage('R15 abort tree', (kind) => {
  let ns: Namespace;
  let nodes: Harness[];

  beforeEach(async () => {
    ns = await kind.fresh();
    seen.clear();
    ParentTask.refused = 0;
    nodes = [];
    // memory storage is not shared between engines (capabilities.shared false): one node holds the whole tree
    const ids = kind.name === 'memory' ? ['a'] : ['a', 'b', 'c'];
    for (const nodeId of ids) {
      nodes.push(
        await startHarness({
          storage: ns.open(),
          tasks: [ParentTask, ChildTask, QuickTask],
          nodeId,
          concurrency: ids.length === 1 ? 31 : 11, // 10 children and the parent each: the children spread over the 3 nodes
          leaseMs: LEASE_MS,
          pollMs: 100,
          ...(ns.schema ? { distribution: postgresDistribution({ connectionString: PG_URL, schema: ns.schema, heartbeatMs: 500 }) } : {}),
        }),
      );
    }
  });

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await assertNoLiveEngines();
    await ns.cleanup();
  });

  /** the checks every abort of a parent must pass; `ackAt` is when abort() answered */
  async function checkTree(parentId: string, abortAt: number, ackAt: number, receiver: string): Promise<TaskRun[]> {
    const [a] = nodes;
    const parent = await a.service.wait(parentId, { timeout: 10_000 }).catch(async (err: unknown) => {
      // say where it stands: a parent that never ends is the finding, not the timeout
      const run = await a.service.get(parentId);
      const logs = (await a.service.listLogs({ runId: parentId })).items.map((l) => l.message);
      throw new Error(`parent ${JSON.stringify(run)} logs ${JSON.stringify(logs)} refused ${ParentTask.refused}: ${String(err)}`);
    });
    expect(parent.status).toBe('aborted');
    const children = await childrenOf(a, parentId);
    const ended = await Promise.all(children.map((c) => a.service.wait(c.id, { timeout: 10_000 })));
    expect(ended.filter((c) => c.status !== 'aborted').map((c) => `${c.name}:${c.status}`)).toEqual([]);
    const late: string[] = [];
    const slow: string[] = [];
    for (const child of ended) {
      for (const s of seen.get(child.id) ?? []) {
        if (s.startedAt > ackAt) late.push(`${child.name} started ${s.startedAt - ackAt} ms after the abort was acknowledged`);
        // the node that received abort() fires its signals at once; the others learn it within a heartbeat
        const bound = s.node === receiver ? 100 : LEASE_MS / 3 + 250;
        if (s.abortedAt === undefined || s.abortedAt - Math.max(abortAt, s.startedAt) > bound)
          slow.push(`${child.name} on ${s.node}: signal ${s.abortedAt === undefined ? 'never fired' : `after ${s.abortedAt - abortAt} ms`}`);
      }
      // a child whose code ran was claimed before the abort was acknowledged (one its parent
      // triggered on another node after abort() listed the children is claimed later, and ends
      // aborted at that claim without running: `seen` has no entry for it)
      if (child.startedOn && seen.has(child.id)) expect(Date.parse(child.startedOn)).toBeLessThanOrEqual(ackAt);
    }
    expect(late).toEqual([]);
    expect(slow).toEqual([]);
    return ended;
  }

  test('100 children over 3 nodes: the running ones see the abort, the pending ones never start, the parent ends aborted', async () => {
    const [a] = nodes;
    const parent = await a.service.trigger({ definition: ParentTask, input: { children: CHILDREN } });
    await until(async () => (await childrenOf(a, parent.id)).length === CHILDREN, 10_000, 'the children to be triggered');
    const running = () => [...seen.values()].flat();
    await until(() => new Set(running().map((s) => s.node)).size === nodes.length && running().length >= 25, 10_000, 'children running on every node');

    const abortAt = Date.now();
    const answer = await a.service.abort({ id: parent.id, message: 'cancelled by the test' });
    const ackAt = Date.now();
    expect(answer.id).toBe(parent.id);

    const ended = await checkTree(parent.id, abortAt, ackAt, 'a');
    expect(ended).toHaveLength(CHILDREN);
    const started = ended.filter((c) => seen.has(c.id));
    expect(started.length).toBeGreaterThanOrEqual(25); // some were running, on every node
    expect(new Set(started.map((c) => seen.get(c.id)![0].node)).size).toBe(nodes.length);
    expect(ended.length - started.length).toBeGreaterThan(0); // and some were still pending
    // nothing starts later either
    await new Promise((r) => setTimeout(r, 300));
    expect(ended.filter((c) => (seen.get(c.id)?.length ?? 0) > 1)).toEqual([]);
    expect([...seen.values()].flat().filter((s) => s.startedAt > ackAt)).toEqual([]);
  });

  test('a parent still triggering children when aborted: none starts after the abort was acknowledged', async () => {
    const [a] = nodes;
    const parent = await a.service.trigger({ definition: ParentTask, input: { children: 60, gapMs: 5 } });
    await until(async () => (await childrenOf(a, parent.id)).length >= 15, 10_000, 'a few children');
    const abortAt = Date.now();
    await a.service.abort({ id: parent.id });
    const ackAt = Date.now();
    await checkTree(parent.id, abortAt, ackAt, 'a');
    expect((await childrenOf(a, parent.id)).length).toBeLessThan(60);
  });

  test('abort() of a finished run is a no-op returning its state', async () => {
    const [a, b = nodes[0]] = nodes;
    const run = await a.service.trigger({ definition: QuickTask });
    const done = await a.service.wait(run.id, { timeout: 5000 });
    expect(done.status).toBe('success');
    for (const node of [a, b]) {
      const answer = await node.service.abort({ id: run.id, message: 'too late' });
      expect(answer).toEqual(done);
    }
    expect(await b.service.get(run.id)).toEqual(done);
    expect((await a.service.listLogs({ runId: run.id })).items.filter((l) => l.message.includes('too late'))).toEqual([]);
  });
});
