/**
 * A strict TypeScript host written from the README's tour, compiled against the installed
 * package's declarations (no skipLibCheck) and run on SQLite. Its lines are checked by
 * test/package/packed-host.test.ts, which also checks that every line of the README's tour
 * appears here (lines holding a `/* ... *\/` placeholder excepted: the host's own code stands there).
 */
import 'reflect-metadata';
import { Container, inject, injectable } from 'inversify';
import { IsInt, Min } from 'class-validator';
import { Task, TaskDefinition, TaskRunParams, tasklane, registerTasks, sqliteStorage, TaskEngine, TaskService } from 'tasklane';
import { TaskValidationError } from 'tasklane';
import { runRetentionPlugin, RUN_RETENTION_TASK_ID } from 'tasklane/plugins/run-retention';

@injectable()
class UserRepository {
  readonly imported = new Set<number>();
  private failed = false;
  async importOne(i: number): Promise<void> {
    // fails once, at user 50, so that the retry policy shows: the run is retried from its checkpoint
    if (i === 50 && !this.failed) {
      this.failed = true;
      throw new Error('CRM timeout');
    }
    this.imported.add(i); // an upsert: importing a user twice keeps one
  }
}

class ImportInput {
  @IsInt() @Min(1) count!: number; // checked by trigger(): a bad input is refused and nothing is stored
}

@Task({
  id: 'users.import',
  title: 'Import users',
  input: ImportInput,
  iterationTimeout: 60_000, // ms one call of run() may take
  concurrency: 4, // runs of it at once
  retry: { attempts: 3, backoff: { type: 'exponential', delay: 1_000 } }, // a throw is retried
})
class ImportUsers implements TaskDefinition<ImportInput, { imported: number }> {
  constructor(@inject(UserRepository) private readonly users: UserRepository) {}

  async run({ input, controller }: TaskRunParams<ImportInput, { imported: number }>) {
    // store: this run's own state (its cursor), kept across iterations, retries, restarts and nodes
    for (let i = (await controller.store.get<number>('next')) ?? 0; i < input.count; i++) {
      if (controller.runtime.isAborted()) return controller.response.aborted();
      if (controller.runtime.isCloseToTimeout()) {
        await controller.store.set('next', i); // checkpoint
        return controller.response.continue(); // next iteration, same run
      }
      await this.users.importOne(i);
      controller.progress({ info: `user ${i + 1}`, current: i + 1, total: input.count });
    }
    // locals: the definition's state, shared by all its runs on every node (a running total)
    await controller.locals.update<number>('imported', (n) => (n ?? 0) + input.count);
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
  registerTasks(container, [ImportUsers]);
  // beyond the tour: a plugin's tasks, imported from the package's subpath export
  const retention = runRetentionPlugin({ maxAgeMs: 3600_000 });
  if (retention.module) await container.load(retention.module);
  registerTasks(container, retention.tasks);
  const engine = container.get(TaskEngine);
  await engine.start();

  const tasks = container.get(TaskService);
  const run = await tasks.trigger({ definition: ImportUsers, input: { count: 100 } }); // input typed by ImportInput
  const output = await tasks.result(run.id, { timeout: 60_000 }); // { imported: number }, typed by ImportUsers; or TaskFailedError, ...
  const ended = await tasks.wait(run.id); // the run itself: status, attempt, retries, error, ...
  const locals = await tasks.locals(ImportUsers); // { imported: 100 }
  console.log(`imported ${output.imported} by the repository: ${container.get(UserRepository).imported.size}`);
  console.log(`status ${ended.status} after ${ended.retries} retry, attempt ${ended.attempt}; locals ${JSON.stringify(locals)}`);
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
