import 'reflect-metadata';
import { Container } from 'inversify';
import { registerTasks, tasklane, TaskEngine, TaskService, type RunStorage, type TaskClass, type TasklaneOptions } from '../../src';
import { Recorder } from '../fixtures/tasks';
import { liveEngines, stopLiveEngines } from './live-engines';

export interface Harness {
  container: Container;
  engine: TaskEngine;
  service: TaskService;
  recorder: Recorder;
  stop(): Promise<void>;
}

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
      liveEngines.delete(harness);
      await engine.stop({ graceful: false });
    },
  };
  liveEngines.add(harness);
  return harness;
}

/**
 * Fails when an engine started through startHarness is still running (and stops it). Every test
 * file gets this check after its last test from the leak guard (leak-guard.ts); call it yourself
 * only to pin a leak on one test rather than on the file.
 */
export async function assertNoLiveEngines(): Promise<void> {
  const left = await stopLiveEngines();
  if (left > 0) throw new Error(`${left} engine(s) left running by the test`);
}
