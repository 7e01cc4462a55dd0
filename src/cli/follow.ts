import { Presets, SingleBar } from 'cli-progress';
import type { ApiClient } from './api-client';
import { CliError, EXIT, type ExitCode } from './exit-codes';
import { endLine, type RunView } from './format';

export const RUN_FIELDS =
  'id definitionId name status input output error progress iterations attempt retries retryOf parentId key context after runAt scheduledFor createdOn startedOn finishedOn nodeId';
const GET_RUN = `query($id: ID!) { backgroundTasks { getTask(id: $id) { ${RUN_FIELDS} } } }`;
const EVENTS = `subscription($id: ID!) { backgroundTaskEvents(taskId: $id) { type progress run { id status iterations progress } } }`;
const FINISHED = new Set(['success', 'failed', 'aborted']);

interface Event {
  type: string;
  progress?: { info?: string; current?: number; total?: number } | null;
  run: { id: string; status: string; iterations: number; progress?: Event['progress'] };
}

export async function getRun(api: ApiClient, id: string): Promise<RunView> {
  const { getTask } = await api.request<{ getTask: RunView | null }>(GET_RUN, { id });
  if (!getTask) throw new CliError(`no run with id "${id}"`, EXIT.NOT_FOUND);
  return getTask;
}

/** exit 0 for a run that succeeded, 1 for one that failed or was aborted */
export function exitOf(run: RunView): ExitCode {
  return run.status === 'success' ? EXIT.OK : EXIT.FAILED;
}

/**
 * A progress bar (cli-progress, on stderr) that follows a run's progress reports. In a terminal it
 * redraws in place; elsewhere (a pipe, a log) the library prints it as a line now and then.
 */
export class RunBar {
  private readonly bar: SingleBar;
  private started = false;

  constructor(id: string) {
    const tty = process.stderr.isTTY === true;
    this.bar = new SingleBar(
      {
        format: `${id.slice(-8)} {bar} {percentage}% | {value}/{total} | {status} {info}`,
        stream: process.stderr,
        noTTYOutput: !tty,
        notTTYSchedule: 500,
        hideCursor: tty,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
  }

  update(status: string, progress: Event['progress'] | undefined, iterations: number): void {
    const total = typeof progress?.total === 'number' && progress.total > 0 ? progress.total : 1;
    const current = typeof progress?.current === 'number' ? Math.min(progress.current, total) : 0;
    const payload = { status, info: progress?.info ?? `iteration ${iterations}` };
    if (!this.started) {
      this.started = true;
      this.bar.start(total, current, payload);
    } else {
      this.bar.setTotal(total);
      this.bar.update(current, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/**
 * Follows a run until it ends: its progress on a bar, `onEvent` after each of its events (logs
 * --follow reads new lines then), and answers the run as it ended. Started after the run ended:
 * answers it at once. The event stream completes after the run's final event; the run is then read
 * again, so an end the stream could not carry is still seen.
 */
export async function follow(api: ApiClient, id: string, onEvent?: () => Promise<void>): Promise<RunView> {
  let run = await getRun(api, id);
  if (FINISHED.has(run.status)) return run;
  const bar = new RunBar(id);
  bar.update(run.status, run.progress, run.iterations);
  try {
    for await (const event of api.events<Event>(EVENTS, { id })) {
      bar.update(event.run.status, event.progress ?? event.run.progress, event.run.iterations);
      if (onEvent) await onEvent();
      if (FINISHED.has(event.run.status)) break;
    }
    run = await getRun(api, id);
    if (!FINISHED.has(run.status)) throw new CliError(`the event stream of run ${id} ended before the run (${run.status})`, EXIT.UNREACHABLE);
    bar.update(run.status, run.progress, run.iterations);
    return run;
  } finally {
    bar.stop();
  }
}

export function printEnd(run: RunView): void {
  process.stdout.write(`${endLine(run)}\n`);
}
