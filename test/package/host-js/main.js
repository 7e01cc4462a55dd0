'use strict';
/**
 * A plain JavaScript host (CommonJS, no decorators: the seeds' createImplementation style) run on
 * SQLite. It also checks that importing tasklane loads no database driver, and that an adapter
 * whose driver is not installed (pg, left out of this host) says what to install, and that the
 * management server serves the dashboard built into the installed package.
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
  console.log(
    `output ${output.text}, ${logs.items.length} log line(s), drivers now: ${loadedDrivers()
      .map((f) => (f.includes('better-sqlite3') ? 'better-sqlite3' : 'pg'))
      .filter((v, i, a) => a.indexOf(v) === i)
      .join(',')}`,
  );
  await serveDashboard(container);
  await engine.stop();
  console.log('stopped');
}

/**
 * The management server of the installed package serves the dashboard built into it (its default
 * folder, found from the package's own root), and its API answers the token.
 */
async function serveDashboard(container) {
  const { serveManagement, tokenAuth } = require('tasklane/management');
  const token = 'host-token-5d1e8a2c9b7f4e6a';
  const server = await serveManagement({ container, port: 0, host: '127.0.0.1', auth: tokenAuth({ tokens: [{ token, role: 'viewer', name: 'host' }] }) });
  try {
    const base = server.url.replace(/\/?$/, '/');
    const page = await fetch(base);
    const html = await page.text();
    const title = /<title>([^<]*)<\/title>/.exec(html);
    const script = /<script[^>]+src="\.\/(assets\/[^"]+\.js)"/.exec(html);
    const asset = script ? await fetch(new URL(script[1], base)) : undefined;
    if (asset) await asset.arrayBuffer();
    const api = await fetch(new URL('graphql', base), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ backgroundTasks { me { role } } }' }),
    });
    const me = (await api.json()).data?.backgroundTasks?.me;
    console.log(
      `dashboard: / ${page.status} ${page.headers.get('content-type')} "${title ? title[1] : ''}"; script ${asset ? `${asset.status} ${asset.headers.get('content-type')}` : 'missing'}; graphql me ${me ? me.role : api.status}`,
    );
  } finally {
    await server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
