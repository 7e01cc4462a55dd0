import type { TaskRun } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import { toPublicRun } from '../public-run';
import type { RunController } from './run-controller';

/**
 * What run() receives. `run` is a getter made on first read (many tasks never look at it); a
 * class rather than an object literal with a getter, which would cost a closure and an accessor
 * pair per iteration.
 */
export class RunParams {
  readonly context: RunRecord['context'];
  private publicRun?: TaskRun;

  constructor(
    readonly input: Readonly<unknown>,
    readonly controller: RunController,
    private readonly record: RunRecord,
  ) {
    this.context = record.context;
  }

  get run(): TaskRun {
    return (this.publicRun ??= toPublicRun(this.record));
  }
}
