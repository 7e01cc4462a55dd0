/**
 * R15, the race behind "no child starts after the abort": abort() on node B aborts the children
 * it lists, but the parent runs on node A, which learns of its abort only at its next lease
 * renewal; a child it triggers meanwhile is stored pending with no abort of its own. Such a child
 * must never run: it ends aborted when claimed (its parent's abort is read at the claim), and the
 * parent's end sweeps its children again. On SQLite and PostgreSQL (stores shared by two engines,
 * no NOTIFY between them, so A really does not know).
 */
import 'reflect-metadata';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { describeWithPostgres } from '../helpers/services';
import { POSTGRES, SQLITE, type Namespace, type StorageKind } from './storages';

/** the parent triggers its child when the test says so */
let release: () => void = () => undefined;
const childRan: string[] = [];

@Task({ id: 'orphan.parent', title: 'Triggers a child when released, then waits' })
class OrphanParent implements TaskDefinition<undefined, never> {
  async run({ controller }: TaskRunParams<undefined, never>) {
    await new Promise<void>((resolve) => (release = resolve));
    await controller.trigger({ definition: 'orphan.child' });
    await controller.sleep(60_000);
    return controller.response.aborted();
  }
}

@Task({ id: 'orphan.child', title: 'Must not run once its parent is aborted' })
class OrphanChild implements TaskDefinition<undefined, string> {
  run({ run, controller }: TaskRunParams<undefined, string>) {
    childRan.push(run.id);
    return controller.response.done('ran');
  }
}

function suite(kind: StorageKind): void {
  let ns: Namespace;
  const nodes: Harness[] = [];

  beforeEach(async () => {
    ns = await kind.fresh();
    childRan.length = 0;
  });

  afterEach(async () => {
    for (const h of nodes.splice(0)) await h.stop();
    await ns.cleanup();
  });

  it('a child triggered by a parent that does not know yet of its abort ends aborted without running', async () => {
    // A runs the parent; its lease is renewed every 10 s, so it learns of the abort late
    const a = await startHarness({ storage: ns.open(), tasks: [OrphanParent, OrphanChild], nodeId: 'a', leaseMs: 30_000, pollMs: 100 });
    nodes.push(a);
    const parent = await a.service.trigger({ definition: OrphanParent });
    for (let i = 0; i < 200 && (await a.service.get(parent.id))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    const b = await startHarness({ storage: ns.open(), tasks: [OrphanParent, OrphanChild], nodeId: 'b', pollMs: 100 });
    nodes.push(b);
    await b.service.abort({ id: parent.id, message: 'stop it' }); // lists no child: there is none yet
    release(); // now the parent, unaware, triggers its child
    let child: string | undefined;
    for (let i = 0; i < 200 && child === undefined; i++) {
      child = (await b.service.listRuns({ parentId: parent.id })).items[0]?.id;
      if (child === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    expect(child).toBeDefined();
    const ended = await b.service.wait(child!, { timeout: 5000 }); // well before A's renewal
    expect(ended.status).toBe('aborted');
    expect(ended.error?.message).toContain(`parent ${parent.id} aborted`);
    expect(childRan).toEqual([]);
  });
}

describe('R15 orphan child (sqlite)', () => suite(SQLITE));
describeWithPostgres('R15 orphan child (postgres)', () => suite(POSTGRES));
