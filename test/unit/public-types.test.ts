import 'reflect-metadata';
import { Container } from 'inversify';
import { tasklane, registerTasks, TaskService, TaskEngine, type TaskRun } from '../../src';
import { CountTask, NoopTask } from '../fixtures/tasks';

/**
 * The public types are part of the contract: `npm test` type-checks this file first, so a
 * `@ts-expect-error` that stops erroring (a type got looser) fails the suite.
 */
describe('public types', () => {
  test('trigger() with a task class checks the input type at compile time', async () => {
    const container = new Container();
    await container.load(tasklane());
    registerTasks(container, [CountTask, NoopTask]);
    const service = container.get(TaskService);

    const ok: TaskRun<{ total: number }> = await service.trigger({ definition: CountTask, input: { count: 2 } });
    expect(ok.status).toBe('pending');
    // @ts-expect-error count must be a number
    await expect(service.trigger({ definition: CountTask, input: { count: 'two' } })).rejects.toThrow();
    // @ts-expect-error unknown option
    await expect(service.trigger({ definition: CountTask, input: { count: 1 }, priority: 1 })).rejects.toThrow();
    // @ts-expect-error wait() takes an id string
    await expect(service.wait(42)).rejects.toThrow();
    await container.get(TaskEngine).stop();
  });
});
