/**
 * abort() on the node that runs the run: "its signal at once" (API.md section 4). The run and its
 * descendants executing here see the abort before abort()'s round trip to storage answers: with a
 * store that holds requestAbort back, they end aborted, with abort()'s message, while it is held.
 */
import 'reflect-metadata';
import { memoryStorage } from '../../src';
import { startHarness } from '../helpers/engine-harness';
import { until } from '../helpers/wait';
import { SleepTask } from '../fixtures/tasks';

test('the run and its descendants executing here end aborted before storage has answered the abort request', async () => {
  const storage = memoryStorage();
  const h = await startHarness({ storage, tasks: [SleepTask] });
  try {
    const parent = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 } });
    const child = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 }, parent: parent.id });
    const grandchild = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 }, parent: child.id });
    const tree = [parent, child, grandchild];
    await until(async () => (await Promise.all(tree.map((r) => h.service.get(r.id)))).every((r) => r?.status === 'running'), 10_000, 'the tree to run');

    // a store whose answer to requestAbort is held until released
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let requests = 0;
    const requestAbort = storage.requestAbort.bind(storage);
    storage.requestAbort = async (...args) => {
      requests++;
      await held;
      return requestAbort(...args);
    };
    const aborting = h.service.abort({ id: parent.id, message: 'cancelled' });
    try {
      await until(async () => (await Promise.all(tree.map((r) => h.service.get(r.id)))).every((r) => r?.status === 'aborted'), 10_000, 'the tree to end');
      expect(requests).toBe(1); // the parent's request, still held
    } finally {
      release();
    }
    expect(await aborting).toMatchObject({ id: parent.id, status: 'aborted' });
    expect(await h.service.get(parent.id)).toMatchObject({ error: { message: 'cancelled', code: 'ABORTED' } });
    expect(await h.service.get(child.id)).toMatchObject({ error: { message: `parent ${parent.id} aborted: cancelled` } });
    expect(await h.service.get(grandchild.id)).toMatchObject({ error: { message: `parent ${child.id} aborted: cancelled` } });
  } finally {
    await h.stop();
  }
}, 30_000);
