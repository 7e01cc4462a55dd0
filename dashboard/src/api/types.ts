/**
 * The shapes of the management API's GraphQL types (MANAGEMENT.md section 2), as the dashboard
 * selects them. Scalars typed `JSON` in the schema are `unknown` here and narrowed where used.
 */

export type Role = 'viewer' | 'operator' | 'admin';

export type RunStatus = 'pending' | 'running' | 'success' | 'failed' | 'aborted';

/** The statuses a run can be filtered by, in the order a person thinks of them. */
export const RUN_STATUSES: readonly RunStatus[] = ['pending', 'running', 'success', 'failed', 'aborted'];

export type EventType = 'submitted' | 'started' | 'progress' | 'iteration' | 'retrying' | 'done' | 'failed' | 'aborted';

/** The signed-in principal, as the `me` query answers it. */
export interface Viewer {
  name: string;
  role: Role;
  tenant: string | null;
  /** the operations this principal may use, as the server's role table names them (`mutation.abortTask`) */
  allowed: string[];
}

/** A run as the runs table shows it. */
export interface RunSummary {
  id: string;
  definitionId: string;
  name: string;
  status: RunStatus;
  progress: unknown;
  iterations: number;
  /** executions started (claims): a retry and a crash recovery each add one */
  attempt: number;
  /** times the run went back to pending for a retry (its retry policy) */
  retries: number;
  parentId: string | null;
  createdOn: string;
  startedOn: string | null;
  finishedOn: string | null;
  nodeId: string | null;
}

/** A run, whole, as its page shows it. */
export interface RunDetail extends RunSummary {
  input: unknown;
  output: unknown;
  error: unknown;
  context: unknown;
  key: string | null;
  after: string | null;
  runAt: string | null;
  /** the run this one retries (retryTask) */
  retryOf: string | null;
  children: Page<RunSummary>;
}

export interface Page<T> {
  items: T[];
  cursor: string | null;
}

export interface Schedule {
  cron: string;
  timezone: string | null;
}

export interface DefinitionInfo {
  id: string;
  title: string;
  description: string | null;
  isPrivate: boolean;
  distributable: boolean;
  concurrency: number | null;
  maxIterations: number | null;
  status: string;
  faultReason: string | null;
  schedule: Schedule | null;
  /** this node's stats of the definition */
  stats: StatsRow | null;
}

/** A definition with the JSON Schema of its input, which only the trigger form loads. */
export interface DefinitionWithSchema extends DefinitionInfo {
  inputSchema: unknown;
}

/** A definition as its own page shows it: the settings the list leaves out, and its task locals. */
export interface DefinitionDetail extends DefinitionInfo {
  iterationTimeout: number;
  maxBacklog: number | null;
  /** the definition's task locals (values every run of it shares), an object of JSON values */
  locals: unknown;
}

export interface StatsRow {
  definitionId: string;
  status: string;
  queueSize: number;
  queuePeak: number;
  evalNum: number;
  errNum: number;
  evalTotalTime: number;
  evalAvgTime: number;
  retryNum: number;
  missedTicks: number;
  lastError: unknown;
}

export interface NodeInfo {
  id: string;
  version: string | null;
  accept: unknown;
  startedOn: string | null;
  lastSeenOn: string | null;
}

export interface LogEntry {
  taskId: string;
  type: string;
  message: string;
  data: unknown;
  createdOn: string;
}

export interface TaskEvent<R = RunSummary> {
  type: EventType;
  run: R;
  progress: unknown;
}

/** `progress` of a run is JSON: what the page reads of it. */
export interface ProgressShape {
  info?: string;
  current?: number;
  total?: number;
}

/** Reads `{ info, current, total }` out of a run's progress, ignoring anything of the wrong type. */
export function readProgress(progress: unknown): ProgressShape {
  if (!progress || typeof progress !== 'object') return {};
  const p = progress as Record<string, unknown>;
  const out: ProgressShape = {};
  if (typeof p.info === 'string') out.info = p.info;
  if (typeof p.current === 'number' && Number.isFinite(p.current)) out.current = p.current;
  if (typeof p.total === 'number' && Number.isFinite(p.total)) out.total = p.total;
  return out;
}

/** `error` of a run is JSON `{ message, code?, data?, stack? }`. */
export interface RunErrorShape {
  message: string;
  code?: string;
  stack?: string;
  data?: unknown;
}

export function readRunError(error: unknown): RunErrorShape | null {
  if (!error || typeof error !== 'object') return null;
  const e = error as Record<string, unknown>;
  const out: RunErrorShape = { message: typeof e.message === 'string' ? e.message : JSON.stringify(error) };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.stack === 'string') out.stack = e.stack;
  if (e.data !== undefined) out.data = e.data;
  return out;
}

export const FINISHED: ReadonlySet<RunStatus> = new Set<RunStatus>(['success', 'failed', 'aborted']);
