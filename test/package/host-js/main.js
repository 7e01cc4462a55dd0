'use strict';
/**
 * A plain JavaScript host (CommonJS, no decorators: the seeds' createImplementation style) run on
 * SQLite. It also checks that importing tasklane loads no database driver, and that an adapter
 * whose driver is not installed (pg, left out of this host) says what to install.
 * Its lines are checked by test/package/packed-host.test.ts.
 */
require('reflect-metadata');
const { Container } = require('inversify');
const tasklanePkg = require('tasklane');

const loadedDrivers = () => Object.keys(require.cache).filter((f) => /node_modules[\\/](pg|better-sqlite3)[\\/]/.test(f));
console.log(`drivers loaded by the import: ${loadedDrivers().length}`);

const { TaskDefinition, tasklane, registerTasks, sqliteStorage, postgresStorage, TaskEngine, TaskService, TasklaneError } = tasklanePkg;

class Greeter {
  greet(name) {
    return `hello ${name}`;
  }
}

class GreetImpl {
  constructor(greeter) {
    this.greeter = greeter;
  }
  async run({ controller, run }) {
    controller.log.info('greeting', { run: run.id });
    return controller.response.done({ text: this.greeter.greet('host') });
  }
}
const Greet = TaskDefinition.createImplementation({
  implementation: GreetImpl,
  dependencies: [Greeter],
  meta: { id: 'host.greet', title: 'Greet' },
});

async function main() {
  try {
    postgresStorage({ connectionString: 'postgres://127.0.0.1:1/none' });
    console.log('postgresStorage: created');
  } catch (err) {
    console.log(`postgresStorage: ${TasklaneError.is(err) ? err.code : 'untyped'}: ${err.message}`);
  }
  const container = new Container();
  container.bind(Greeter).toSelf();
  await container.load(tasklane({ storage: sqliteStorage({ file: './data/js.db' }) }));
  registerTasks(container, [Greet]);
  const engine = container.get(TaskEngine);
  await engine.start();
  const tasks = container.get(TaskService);
  const run = await tasks.trigger({ definition: 'host.greet' });
  const output = await tasks.result(run.id, { timeout: 30000 });
  const logs = await tasks.listLogs({ runId: run.id });
  console.log(`output ${output.text}, ${logs.items.length} log line(s), drivers now: ${loadedDrivers().map((f) => f.includes('better-sqlite3') ? 'better-sqlite3' : 'pg').filter((v, i, a) => a.indexOf(v) === i).join(',')}`);
  await engine.stop();
  console.log('stopped');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
