import 'reflect-metadata';
import { Container } from 'inversify';
import { registerTasks, tasklane, TaskEngine, TaskService, type RunStorage, type TaskClass, type TasklaneOptions } from '../../src';
import { Recorder } from '../fixtures/tasks';

export interface Harness {
  container: Container;
  engine: TaskEngine;
  service: TaskService;
  recorder: Recorder;
  stop(): Promise<void>;
}

const live = new Set<Harness>();

/** A container with tasklane loaded, the given tasks registered, and the engine started (unless start: false). */
export async function startHarness(options: { storage: RunStorage; tasks: TaskClass[]; start?: boolean } & TasklaneOptions): Promise<Harness> {
  const { tasks, start = true, ...rest } = options;
  const container = new Container();
  container.bind(Recorder).toSelf().inSingletonScope();
  await container.load(tasklane({ pollMs: 200, ...rest }));
  registerTasks(container, tasks);
  const engine = container.get(TaskEngine);
  const service = container.get(TaskService);
  if (start) await engine.start();
  const harness: Harness = {
    container,
    engine,
    service,
    recorder: container.get(Recorder),
    async stop() {
      live.delete(harness);
      await engine.stop({ graceful: false });
    },
  };
  live.add(harness);
  return harness;
}

/** the leak guard: a test that leaves an engine running fails */
export async function assertNoLiveEngines(): Promise<void> {
  const left = [...live];
  live.clear();
  for (const h of left) await h.engine.stop({ graceful: false });
  if (left.length > 0) throw new Error(`${left.length} engine(s) left running by the test`);
}
