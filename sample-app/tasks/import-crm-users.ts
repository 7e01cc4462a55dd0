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

/** The task locals of `crm.import-users`: what all its runs have imported, across runs and restarts. */
export interface ImportTotals {
  /** contacts imported by every import that succeeded */
  contacts?: number;
  /** imports that succeeded */
  imports?: number;
}

/**
 * Imports the CRM's contacts page by page. Every few pages it answers continue() with its offset
 * as an input patch: the run is checkpointed and iterated again (another node could take it on).
 *
 * The offset belongs to this run: it is its checkpoint (an input patch here; `store` would do as
 * well). What all runs have imported belongs to the definition: a task local, durable and shared
 * by every node, added to atomically when a run succeeds (`locals.update`), so two imports ending
 * at once on two nodes both count. `TaskService.locals('crm.import-users')` shows it to operators.
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
        const contacts = await controller.locals.update<number>('contacts', (n) => (n ?? 0) + offset);
        await controller.locals.update<number>('imports', (n) => (n ?? 0) + 1);
        controller.log.info(`imported ${offset} contacts (${contacts} by all imports so far)`);
        return controller.response.done({ imported: offset });
      }
      if (controller.runtime.isCloseToTimeout()) break;
    }
    return controller.response.continue({ offset });
  }
}
