import { randomBytes } from 'node:crypto';
import type { Container } from 'inversify';
import { serveManagement, tokenAuth, type ManagementServer } from '../src/management';

/**
 * The sample's management server (`npm start`, i.e. main.js --serve), started with the engine (so
 * its metrics count the tour's runs): on 127.0.0.1, port
 * TASKLANE_SAMPLE_PORT (default 4000; 0 picks a free one), one admin token (TASKLANE_SAMPLE_TOKEN,
 * else a random one, printed), and the instructions to print: the dashboard's address and the
 * token first (what a new user opens), then the API with curl and the CLI.
 */
export async function serveSample(container: Container): Promise<{ server: ManagementServer; instructions: string }> {
  const token = process.env.TASKLANE_SAMPLE_TOKEN || randomBytes(18).toString('base64url');
  const port = Number(process.env.TASKLANE_SAMPLE_PORT ?? 4000);
  const server = await serveManagement({ container, port, host: '127.0.0.1', auth: tokenAuth({ tokens: [{ token, role: 'admin', name: 'sample admin' }] }) });
  const url = server.url;
  const query = JSON.stringify({ query: '{ backgroundTasks { listTasks(limit: 5) { items { id definitionId status } } } }' });
  return {
    server,
    instructions: [
      '',
      `Dashboard:       ${url}/`,
      `Token:           ${token}    (an admin's: sign in with it; the page keeps it for this browser tab only)`,
      `Management API:  ${url}/graphql    (the same token, as Authorization: Bearer)`,
      `                 metrics ${url}/metrics, health ${url}/healthz and ${url}/readyz`,
      '',
      'Or from another terminal:',
      `  curl -s ${url}/graphql -H 'authorization: Bearer ${token}' -H 'content-type: application/json' \\`,
      `       -d '${query}'`,
      `  export TASKLANE_URL=${url} TASKLANE_TOKEN=${token}`,
      '  node dist/src/cli/main.js runs --limit 10            # `tasklane runs` once installed as a package',
      `  node dist/src/cli/main.js trigger users.export --input '{"steps":50}' --watch`,
      `  curl -s ${url}/metrics -H 'authorization: Bearer ${token}' | grep tasklane_runs_total`,
      '',
      'The engine keeps running (the heartbeat fires every 2 s). Ctrl-C stops the server and the engine.',
      '',
    ].join('\n'),
  };
}
