import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ApiClient } from './api-client';
import { CliError, EXIT } from './exit-codes';
import { exitOf, follow, getRun, printEnd, RUN_FIELDS } from './follow';
import { json, ms, progressText, runDetails, short, table, type DefinitionView, type NodeView, type RunView, type StatsView } from './format';

export interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

/** what a command needs: its API client and how to print */
export interface Io {
  api: ApiClient;
  json: boolean;
  out(text: string): void;
}

export function io(command: Command): Io {
  const opts = command.optsWithGlobals<GlobalOptions>();
  if (!opts.token) throw new CliError('no token: pass --token <token> or set TASKLANE_TOKEN', EXIT.AUTH);
  return { api: new ApiClient(opts.url, opts.token), json: opts.json === true, out: (text) => process.stdout.write(`${text}\n`) };
}

export function positiveInt(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    return Number(value);
  };
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 2_147_483_647) throw new InvalidArgumentError('expected a number of milliseconds (an integer >= 0)');
  return Number(value);
}

const STATUSES = ['pending', 'running', 'success', 'failed', 'aborted'];
export function status(value: string): string {
  if (!STATUSES.includes(value)) throw new InvalidArgumentError(`expected one of ${STATUSES.join(', ')}`);
  return value;
}

/** `--input` as JSON, or `@file` holding JSON */
export function input(value: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidArgumentError('not valid JSON');
  }
}

export async function definitions(io: Io): Promise<number | void> {
  const { listDefinitions } = await io.api.request<{ listDefinitions: DefinitionView[] }>(
    `{ backgroundTasks { listDefinitions { id title description status isPrivate distributable concurrency maxIterations schedule { cron timezone } inputSchema
       stats { status queueSize queuePeak evalNum errNum evalAvgTime lastError } } } }`,
  );
  if (io.json) return void io.out(json(listDefinitions));
  io.out(
    table(
      ['DEFINITION', 'TITLE', 'STATUS', 'QUEUE', 'PEAK', 'EVALS', 'ERRORS', 'AVG', 'SCHEDULE', 'LAST ERROR'],
      listDefinitions.map((d) => [
        d.id,
        d.title,
        d.status,
        d.stats?.queueSize,
        d.stats?.queuePeak,
        d.stats?.evalNum,
        d.stats?.errNum,
        ms(d.stats?.evalAvgTime),
        d.schedule?.cron,
        short(d.stats?.lastError?.message, 40),
      ]),
    ),
  );
}

export async function runs(
  io: Io,
  options: { definition?: string; status?: string; parent?: string; tenant?: string; limit?: number },
): Promise<number | void> {
  const { listTasks } = await io.api.request<{ listTasks: { items: RunView[]; cursor: string | null } }>(
    `query($where: TaskRunsWhere, $limit: Int) { backgroundTasks { listTasks(where: $where, limit: $limit) { items { ${RUN_FIELDS} } cursor } } }`,
    { where: { definitionId: options.definition, status: options.status, parentId: options.parent, tenant: options.tenant }, limit: options.limit ?? 50 },
  );
  if (io.json) return void io.out(json(listTasks.items));
  io.out(
    table(
      ['RUN', 'DEFINITION', 'STATUS', 'ITER', 'CREATED', 'FINISHED', 'PROGRESS / ERROR'],
      listTasks.items.map((r) => [
        r.id,
        r.definitionId,
        r.status,
        r.iterations,
        r.createdOn,
        r.finishedOn,
        r.error ? short(r.error.message, 50) : progressText(r.progress),
      ]),
    ),
  );
  if (listTasks.cursor) io.out(`(more: narrow with --definition/--status/--tenant, or raise --limit)`);
}

export async function run(io: Io, id: string): Promise<number | void> {
  const found = await getRun(io.api, id);
  io.out(io.json ? json(found) : runDetails(found));
}

const LOGS = `query($id: ID!, $after: String) { backgroundTasks { listLogs(where: { taskId: $id }, limit: 1000, after: $after) { items { taskId type message data createdOn } cursor } } }`;
interface LogLine {
  type: string;
  message: string;
  data?: unknown;
  createdOn: string;
}

/**
 * A run's log lines from the start, printed once each: pages are read by cursor; the last page is
 * read again (from the cursor that led to it) when following, its lines already printed skipped.
 */
class LogReader {
  private printed = 0;
  private pageStart: string | undefined;
  private printedBeforePage = 0;

  constructor(
    private readonly io: Io,
    private readonly id: string,
  ) {}

  async readNew(): Promise<LogLine[]> {
    const out: LogLine[] = [];
    for (;;) {
      const { listLogs } = await this.io.api.request<{ listLogs: { items: LogLine[]; cursor: string | null } }>(LOGS, { id: this.id, after: this.pageStart });
      const fresh = listLogs.items.slice(this.printed - this.printedBeforePage);
      out.push(...fresh);
      this.printed += fresh.length;
      if (!listLogs.cursor) return out;
      this.pageStart = listLogs.cursor;
      this.printedBeforePage = this.printed;
    }
  }

  print(lines: LogLine[]): void {
    for (const l of lines) {
      if (this.io.json) this.io.out(JSON.stringify(l));
      else this.io.out(`${l.createdOn} ${l.type.padEnd(5)} ${l.message}${l.data === null || l.data === undefined ? '' : ` ${JSON.stringify(l.data)}`}`);
    }
  }
}

export async function logs(io: Io, id: string, options: { follow?: boolean }): Promise<number | void> {
  await getRun(io.api, id); // not found: exit 4
  const reader = new LogReader(io, id);
  if (!options.follow) {
    const lines = await reader.readNew();
    if (io.json) return void io.out(json(lines));
    reader.print(lines);
    return EXIT.OK;
  }
  // --json --follow: one JSON line per log line (a stream cannot be one document)
  reader.print(await reader.readNew());
  const ended = await follow(io.api, id, async () => reader.print(await reader.readNew()));
  reader.print(await reader.readNew());
  if (!io.json) printEnd(ended);
  return exitOf(ended);
}

export async function trigger(io: Io, definition: string, options: { input?: unknown; delay?: number; key?: string; watch?: boolean }): Promise<number | void> {
  const { triggerTask } = await io.api.request<{ triggerTask: RunView }>(
    `mutation($definition: ID!, $input: JSON, $delay: Int, $key: String) { backgroundTasks { triggerTask(definition: $definition, input: $input, delay: $delay, key: $key) { ${RUN_FIELDS} } } }`,
    { definition, input: options.input, delay: options.delay, key: options.key },
  );
  if (!options.watch) {
    io.out(io.json ? json(triggerTask) : triggerTask.id);
    return EXIT.OK;
  }
  if (!io.json) io.out(triggerTask.id);
  const ended = await follow(io.api, triggerTask.id);
  io.out(io.json ? json(ended) : `run ${ended.id} ${ended.status}${ended.error ? `: ${ended.error.message ?? ''}` : ''}`);
  return exitOf(ended);
}

export async function watch(io: Io, id: string): Promise<number | void> {
  const ended = await follow(io.api, id);
  if (io.json) io.out(json(ended));
  else printEnd(ended);
  return exitOf(ended);
}

export async function abort(io: Io, id: string, options: { message?: string }): Promise<number | void> {
  const { abortTask } = await io.api.request<{ abortTask: RunView }>(
    `mutation($id: ID!, $message: String) { backgroundTasks { abortTask(id: $id, message: $message) { ${RUN_FIELDS} } } }`,
    {
      id,
      message: options.message,
    },
  );
  io.out(io.json ? json(abortTask) : `run ${abortTask.id} ${abortTask.status === 'running' ? 'running: abort requested' : abortTask.status}`);
}

export async function retry(io: Io, id: string): Promise<number | void> {
  const { retryTask } = await io.api.request<{ retryTask: RunView }>(`mutation($id: ID!) { backgroundTasks { retryTask(id: $id) { ${RUN_FIELDS} } } }`, { id });
  io.out(io.json ? json(retryTask) : retryTask.id);
}

export async function remove(io: Io, id: string): Promise<number | void> {
  const { deleteTask } = await io.api.request<{ deleteTask: boolean }>(`mutation($id: ID!) { backgroundTasks { deleteTask(id: $id) } }`, { id });
  if (!deleteTask) throw new CliError(`no run with id "${id}"`, EXIT.NOT_FOUND);
  io.out(io.json ? json(deleteTask) : `run ${id} deleted`);
}

export async function restart(io: Io, definition: string, options: { message?: string }): Promise<number | void> {
  const { restartDefinition } = await io.api.request<{ restartDefinition: Record<string, unknown> }>(
    `mutation($id: ID!, $message: String) { backgroundTasks { restartDefinition(id: $id, message: $message) { id status stats { queueSize evalNum errNum } } } }`,
    { id: definition, message: options.message },
  );
  io.out(io.json ? json(restartDefinition) : `definition ${definition} restarted (${String(restartDefinition.status)})`);
}

export async function stats(io: Io): Promise<number | void> {
  const { stats: rows } = await io.api.request<{ stats: StatsView[] }>(
    `{ backgroundTasks { stats { definitionId status queueSize queuePeak evalNum errNum retryNum evalTotalTime evalAvgTime missedTicks lastError } } }`,
  );
  if (io.json) return void io.out(json(rows));
  io.out(
    table(
      ['DEFINITION', 'STATUS', 'QUEUE', 'PEAK', 'EVALS', 'ERRORS', 'RETRIES', 'AVG', 'TOTAL', 'MISSED', 'LAST ERROR'],
      rows.map((r) => [
        r.definitionId,
        r.status,
        r.queueSize,
        r.queuePeak,
        r.evalNum,
        r.errNum,
        r.retryNum,
        ms(r.evalAvgTime),
        ms(r.evalTotalTime),
        r.missedTicks,
        short(r.lastError?.message, 40),
      ]),
    ),
  );
}

export async function nodes(io: Io): Promise<number | void> {
  const { nodes: rows } = await io.api.request<{ nodes: NodeView[] }>(`{ backgroundTasks { nodes { id version accept startedOn lastSeenOn } } }`);
  if (io.json) return void io.out(json(rows));
  io.out(
    table(
      ['NODE', 'VERSION', 'ACCEPTS', 'STARTED', 'LAST SEEN'],
      rows.map((n) => [n.id, n.version, short(n.accept, 40) || 'all', n.startedOn, n.lastSeenOn]),
    ),
  );
}
