/**
 * A strict TypeScript host written from the README's tour, compiled against the installed
 * package's declarations (no skipLibCheck) and run on SQLite. Its lines are checked by
 * test/package/packed-host.test.ts.
 */
import 'reflect-metadata';
import { Container, inject, injectable } from 'inversify';
import { IsInt, Min } from 'class-validator';
import { Task, TaskDefinition, TaskRunParams, tasklane, registerTasks, sqliteStorage, TaskEngine, TaskService, TaskValidationError } from 'tasklane';
import { runRetentionPlugin, RUN_RETENTION_TASK_ID } from 'tasklane/plugins/run-retention';

@injectable()
class UserRepository {
  imported = 0;
  async importOne(_i: number): Promise<void> {
    this.imported++;
  }
}

class ImportInput {
  @IsInt() @Min(1) count!: number;
}

@Task({ id: 'users.import', title: 'Import users', input: ImportInput, iterationTimeout: 60_000, concurrency: 4 })
class ImportUsers implements TaskDefinition<ImportInput, { imported: number }> {
  constructor(@inject(UserRepository) private readonly users: UserRepository) {}

  async run({ input, controller }: TaskRunParams<ImportInput, { imported: number }>) {
    for (let i = (await controller.store.get<number>('next')) ?? 0; i < input.count; i++) {
      if (controller.runtime.isAborted()) return controller.response.aborted();
      if (controller.runtime.isCloseToTimeout()) {
        await controller.store.set('next', i); // checkpoint
        return controller.response.continue(); // next iteration, same run
      }
      await this.users.importOne(i);
      controller.progress({ info: `user ${i + 1}`, current: i + 1, total: input.count });
    }
    return controller.response.done({ imported: input.count });
  }
}

/** never called: the package's declarations must type a trigger's input by its task class */
export function typedInputs(tasks: TaskService): void {
  // @ts-expect-error count is a number
  void tasks.trigger({ definition: ImportUsers, input: { count: 'many' } });
}

async function main(): Promise<void> {
  const container = new Container();
  container.bind(UserRepository).toSelf().inSingletonScope();
  await container.load(tasklane({ storage: sqliteStorage({ file: './data/tasks.db' }) }));
  const retention = runRetentionPlugin({ maxAgeMs: 3600_000 });
  if (retention.module) await container.load(retention.module);
  registerTasks(container, [ImportUsers, ...retention.tasks]);
  const engine = container.get(TaskEngine);
  await engine.start();

  const tasks = container.get(TaskService);
  const run = await tasks.trigger({ definition: ImportUsers, input: { count: 100 } }); // typed input
  const output = await tasks.result<{ imported: number }>(run.id, { timeout: 60_000 });
  console.log(`imported ${output.imported} by the repository: ${container.get(UserRepository).imported}`);
  try {
    await tasks.trigger({ definition: ImportUsers, input: { count: 0 } });
  } catch (err) {
    if (err instanceof TaskValidationError) console.log(`refused ${err.code} at ${err.errors.map((e) => e.path).join(',')}`);
  }
  const ids = (await tasks.listDefinitions({ includePrivate: true })).map((d) => d.id).sort();
  console.log(`definitions ${ids.join(',')} (retention task ${RUN_RETENTION_TASK_ID})`);
  await engine.stop();
  console.log('stopped');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
