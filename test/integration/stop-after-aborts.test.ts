/**
 * engine.stop() closes storage after the aborts a run's end started, not under them: a run that
 * failed while its abort was recorded elsewhere (it went back to pending for its retry) is aborted
 * with its children by work nobody awaits; stop waits for it (a PostgreSQL pool ended under it left
 * a checkout pending, with its timer armed).
 */
import 'reflect-metadata';
import { memoryStorage, Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { startHarness } from '../helpers/engine-harness';
import { until } from '../helpers/wait';

let release: (() => void) | undefined;

@Task({ id: 'stop.late-fail', title: 'Fails when released', retry: { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } } })
class LateFailTask implements TaskDefinition<undefined, void> {
  static fails = true;
  async run({ controller }: TaskRunParams<undefined, void>) {
    await new Promise<void>((resolve) => (release = resolve));
    if (LateFailTask.fails) throw new Error('failed after its abort was recorded elsewhere');
    return controller.response.done(undefined);
  }
}

test('stop() waits for the abort a failed run started (its children listed) before it closes storage', async () => {
  const storage = memoryStorage();
  const h = await startHarness({ storage, tasks: [LateFailTask] });
  const run = await h.service.trigger({ definition: LateFailTask });
  await until(() => release !== undefined, 10_000, 'the run to start');
  // as abort() on another node does: recorded, its message kept; this node is not told
  expect((await storage.requestAbort(run.id, 'from elsewhere', new Date().toISOString())).kind).toBe('requested');
  await storage.setValue(run.id, 'tasklane:abort-message', 'from elsewhere');

  // the abort's listing of the run's children is held until the test lets it go
  const order: string[] = [];
  let listing = false;
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => (letGo = resolve));
  const listRuns = storage.listRuns.bind(storage);
  storage.listRuns = async (query) => {
    if (query.parentId === run.id) {
      listing = true;
      await held;
    }
    return listRuns(query);
  };
  const close = storage.close.bind(storage);
  storage.close = async () => {
    order.push('close');
    return close();
  };

  release!();
  await until(() => listing, 10_000, 'the abort to list the children');
  const stopping = h.stop();
  await new Promise((r) => setTimeout(r, 200));
  order.push('listed');
  letGo();
  await stopping;
  expect(order).toEqual(['listed', 'close']);
  expect(await storage.getRun(run.id)).toMatchObject({ status: 'aborted', retries: 1, error: { message: 'from elsewhere', code: 'ABORTED' } });
});
