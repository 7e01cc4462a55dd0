import Table from 'cli-table3';

/** A human table (cli-table3), borders kept light so it reads in a terminal and in a log. */
export function table(head: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const t = new Table({
    head,
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) t.push(row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))));
  return t.toString();
}

/** a duration in ms, short */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** a one-line JSON value, cut to `max` characters */
export function short(value: unknown, max = 60): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export interface RunView {
  id: string;
  definitionId: string;
  name: string;
  status: string;
  iterations: number;
  attempt: number;
  createdOn: string;
  startedOn?: string | null;
  finishedOn?: string | null;
  progress?: { info?: string; current?: number; total?: number } | null;
  error?: { message?: string; code?: string } | null;
  [field: string]: unknown;
}

/** a definition as the `definitions` command asks for it */
export interface DefinitionView {
  id: string;
  title?: string | null;
  status: string;
  schedule?: { cron?: string | null; timezone?: string | null } | null;
  stats?: {
    queueSize?: number;
    queuePeak?: number;
    evalNum?: number;
    errNum?: number;
    evalAvgTime?: number | null;
    lastError?: { message?: string } | null;
  } | null;
  [field: string]: unknown;
}

/** one row of the `stats` command */
export interface StatsView {
  definitionId: string;
  status: string;
  queueSize?: number;
  queuePeak?: number;
  evalNum?: number;
  errNum?: number;
  retryNum?: number;
  evalTotalTime?: number | null;
  evalAvgTime?: number | null;
  missedTicks?: number;
  lastError?: { message?: string } | null;
}

/** one node of the `nodes` command */
export interface NodeView {
  id: string;
  version?: string | null;
  accept?: unknown;
  startedOn?: string | null;
  lastSeenOn?: string | null;
}

export function progressText(p: RunView['progress']): string {
  if (!p) return '';
  const count = typeof p.current === 'number' ? (typeof p.total === 'number' ? `${p.current}/${p.total}` : String(p.current)) : '';
  return [count, p.info ?? ''].filter(Boolean).join(' ');
}

/** one run, whole, as `field  value` lines */
export function runDetails(run: RunView): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(run)) {
    if (value === null || value === undefined) continue;
    if (key === 'children') continue;
    lines.push(`${key.padEnd(13)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  }
  return lines.join('\n');
}

/** the line that ends `watch` and `logs --follow` */
export function endLine(run: RunView): string {
  const err = run.error ? `: ${run.error.message ?? ''}${run.error.code ? ` [${run.error.code}]` : ''}` : '';
  return `run ${run.id} ${run.status}${err}`;
}
