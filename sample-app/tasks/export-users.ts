import { inject } from 'inversify';
import { IsInt, Max, Min } from 'class-validator';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { UserRepository } from '../services/user-repository';

export class ExportUsersInput {
  @IsInt() @Min(1) @Max(10_000) steps!: number;
}

/** A slow export: long enough for the app to abort it half-way. */
@Task({ id: 'users.export', title: 'Export users (slow)', input: ExportUsersInput })
export class ExportUsersTask implements TaskDefinition<ExportUsersInput, { exported: number }> {
  constructor(@inject(UserRepository) private readonly users: UserRepository) {}

  async run({ input, controller }: TaskRunParams<ExportUsersInput, { exported: number }>) {
    for (let step = 1; step <= input.steps; step++) {
      // sleep() returns false at once when the run is aborted
      if (!(await controller.sleep(100))) {
        controller.log.warn(`export stopped at step ${step - 1}/${input.steps}`);
        return controller.response.aborted();
      }
      controller.progress({ info: `chunk ${step}/${input.steps}`, current: step, total: input.steps });
    }
    return controller.response.done({ exported: this.users.count() });
  }
}
