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
import { EngineAccess } from '../../src/core/observation/engine-access';

test('the run and its descendants executing here end aborted before storage has answered the abort request', async () => {
  const storage = memoryStorage();
  const h = await startHarness({ storage, tasks: [SleepTask] });
  try {
    const parent = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 } });
    const child = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 }, parent: parent.id });
    const grandchild = await h.service.trigger({ definition: SleepTask, input: { ms: 60_000 }, parent: child.id });
    const tree = [parent, child, grandchild];
    await until(async () => (await Promise.all(tree.map((r) => h.service.get(r.id)))).every((r) => r?.status === 'running'), 10_000, 'the tree to run');

    // what the aborts metric counts
    const counted: string[] = [];
    const unobserve = new EngineAccess(h.container).observe({ abortRequested: (run) => counted.push(run.id) });

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
    // storage answered `finished` for each (the signal had ended it): each request is logged and
    // counted all the same, once
    const expected: Array<[string, string]> = [
      [parent.id, 'abort requested: cancelled'],
      [child.id, `abort requested: parent ${parent.id} aborted: cancelled`],
      [grandchild.id, `abort requested: parent ${child.id} aborted: cancelled`],
    ];
    for (const [runId, line] of expected) {
      const lines = (await h.service.listLogs({ runId })).items.map((l) => l.message);
      expect(lines.filter((m) => m.startsWith('abort requested'))).toEqual([line]);
      expect(counted.filter((id) => id === runId)).toHaveLength(1);
    }
    unobserve();
  } finally {
    await h.stop();
  }
}, 30_000);
