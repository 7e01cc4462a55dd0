import 'reflect-metadata';
import { Task, type TaskDefinition, type TaskRunParams } from '../src';

@Task({ id: 'bench.noop', title: 'No-op', iterationTimeout: 60_000 })
export class BenchNoop implements TaskDefinition<undefined, void> {
  run({ controller }: TaskRunParams<undefined, void>) {
    return controller.response.done();
  }
}

@Task({ id: 'bench.park', title: 'Waits to be aborted' })
export class BenchPark implements TaskDefinition<undefined, void> {
  async run({ controller }: TaskRunParams<undefined, void>) {
    await controller.sleep(60_000);
    return controller.response.aborted();
  }
}
