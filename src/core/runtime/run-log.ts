import type { Logger } from 'winston';
import type { RunLog as RunLogLine } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import { errorFields, safeString } from '../../util/safe-string';
import { DEFAULT_MAX_LOGS_PER_RUN, type RegisteredDefinition } from '../definitions/definition-registry';
import type { Batcher } from './batcher';
import type { EngineClock } from './engine-clock';
import { logData } from './log-data';
import type { LogLine } from './write-batches';

/** The log of runs: each line goes to winston, and to storage (grouped) unless its definition disables logs. */
export class RunLog {
  constructor(
    private readonly logger: Logger,
    private readonly lines: Batcher<LogLine, undefined>,
    private readonly clock: EngineClock,
  ) {}

  /** persists a run log line (unless the definition disables logs) and writes it to winston */
  log(def: RegisteredDefinition | undefined, run: RunRecord, type: RunLogLine['type'], message: string, data?: unknown): void {
    // never throws back into the task, whatever it logs: the message is read as text once, the
    // data copied once (JSON-safe), and that copy is all winston and storage ever see
    const text = safeString(message, 10_000);
    const safe = logData(data);
    const meta: Record<string, unknown> = { runId: run.id, definitionId: run.definitionId };
    if (safe !== undefined) meta.data = safe;
    try {
      this.logger.log(type, text, meta);
    } catch {
      // a host logger that throws is not the task's fault
    }
    if (def?.disableLogs) return;
    const line: RunLogLine = { runId: run.id, type, message: text, createdOn: this.clock.nowIso() };
    if (safe !== undefined) line.data = safe;
    this.lines
      .add({ line, cap: def?.maxLogsPerRun ?? DEFAULT_MAX_LOGS_PER_RUN })
      .catch((err: unknown) => this.logger.warn('tasklane: could not persist a run log line', { runId: run.id, ...errorFields(err) }));
  }
}
