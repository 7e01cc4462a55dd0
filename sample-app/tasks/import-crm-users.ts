import { inject } from 'inversify';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { CrmClient } from '../services/crm-client';
import { UserRepository } from '../services/user-repository';

export class ImportCrmUsersInput {
  @IsInt() @Min(1) @Max(500) pageSize!: number;
  /** pages fetched per iteration before the run checkpoints */
  @IsInt() @Min(1) pagesPerIteration!: number;
  /** where the import stands: written back by continue() as a checkpoint */
  @IsOptional() @IsInt() @Min(0) offset?: number;
}

/**
 * Imports the CRM's contacts page by page. Every few pages it answers continue() with its offset
 * as an input patch: the run is checkpointed and iterated again (another node could take it on).
 */
@Task({ id: 'crm.import-users', title: 'Import users from the CRM', input: ImportCrmUsersInput, maxIterations: 100, iterationTimeout: 10_000 })
export class ImportCrmUsersTask implements TaskDefinition<ImportCrmUsersInput, { imported: number }> {
  constructor(
    @inject(CrmClient) private readonly crm: CrmClient,
    @inject(UserRepository) private readonly users: UserRepository,
  ) {}

  async run({ input, controller }: TaskRunParams<ImportCrmUsersInput, { imported: number }>) {
    let offset = input.offset ?? 0;
    for (let page = 0; page < input.pagesPerIteration; page++) {
      if (controller.runtime.isAborted()) return controller.response.aborted();
      const contacts = await this.crm.fetchPage(offset, input.pageSize, controller.signal);
      for (const c of contacts) this.users.upsert({ id: c.id, name: c.fullName, email: c.email, source: 'crm' });
      offset += contacts.length;
      controller.progress({ info: `${offset}/${this.crm.total} contacts`, current: offset, total: this.crm.total });
      if (offset >= this.crm.total) {
        controller.log.info(`imported ${offset} contacts`);
        return controller.response.done({ imported: offset });
      }
      if (controller.runtime.isCloseToTimeout()) break;
    }
    return controller.response.continue({ offset });
  }
}
