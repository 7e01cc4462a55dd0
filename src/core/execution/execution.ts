import type { Span } from '@opentelemetry/api';
import type { RunProgress } from '../../api/types';
import { LongTimeout } from '../../util/duration';
import type { RunRecord } from '../../ports/run-record';
import type { IterationUpdate, UpdateResult } from '../../ports/storage';
import type { BatchSink } from '../runtime/batcher';
import type { RegisteredDefinition } from '../definitions/definition-registry';
import type { FinishKind } from '../completion/run-finisher';

/** Who holds an execution's pool slot: told when the slot frees and when the iteration is over. */
export interface ExecutionOwner {
  slotReleased(exec: Execution): void;
  completed(exec: Execution): void;
}

/** What an iteration ended with: the change to write under its lease, and how the run finished. */
export interface Outcome {
  update: Omit<IterationUpdate, 'id' | 'leaseToken'>;
  kind?: FinishKind;
  /** a failure the run's retry policy may retry (see RetryPolicy for which failures are) */
  retryable?: boolean;
  /** the failure is retried: the update puts the run back to pending (see IterationOutcomes.retryOutcome) */
  retrying?: boolean;
  /**
   * The run ends aborted, but the message abort() was given is not known on this node yet (the
   * abort came through another node): it is read (RunAborts.messageFor) and set on the update's
   * error before the write.
   */
  abortMessageUnknown?: boolean;
}

/** Where the write of an iteration's outcome reports back (the executor). */
export interface OutcomeWriter {
  written(exec: Execution, result: UpdateResult): void;
  writeFailed(exec: Execution, error: unknown): void;
}

/**
 * One iteration of one run being executed on this node. It is also the sink of its outcome's
 * write (see Batcher.push): the hot path makes no promise of its own per iteration.
 */
export class Execution implements BatchSink<UpdateResult> {
  /** made on first use: most iterations never look at their signal */
  private abortController?: AbortController;
  private abortReason?: Error;
  /** when it was claimed (performance.now()) */
  readonly claimedAt = performance.now();
  /** when its code started (performance.now()) */
  startedAt = this.claimedAt;
  /** epoch ms after which the iteration has timed out (Infinity: no timeout) */
  deadline = Infinity;
  /** epoch ms after which an unanswered iteration is failed */
  graceDeadline = Infinity;
  timedOut = false;
  private slotReleased = false;
  private over = false;
  /** the task instance of this iteration (its hooks are called when the run ends) */
  instance?: { [hook: string]: unknown };
  /** set once the iteration answered: what is being written */
  outcome?: Outcome;
  /** how many times the outcome's write was tried */
  writeAttempts = 0;
  /** an abort was asked for the run */
  abortRequested: boolean;
  abortMessage?: string;
  /** this node's abort() fired the run's signal itself: the request is logged and counted already */
  abortTold = false;
  /**
   * the message the run ends aborted with when no abort message is known, here or in storage: a
   * locals write refused because the definition was restarted (the restart's own message, stored
   * by the node that restarted it, wins once known)
   */
  abortFallbackMessage?: string;
  /** the iteration's answer was taken (or replaced by a timeout): later answers are ignored */
  settled = false;
  /** released by a graceful stop, or its lease was lost: nothing more may be written */
  detached = false;
  progress?: RunProgress;
  progressDirty = false;
  /** this iteration triggered a child (an abort of the run sweeps its children again: see RunExecutor.written) */
  triggeredChildren = false;
  /** the iteration's span, while a tracer provider is registered (see observation/tracing) */
  span?: Span;
  /** its outcome puts the run back to pending for a retry, and that write is not over yet */
  returningToPending = false;
  private sleepers?: Set<() => void>;

  constructor(
    public run: RunRecord,
    readonly def: RegisteredDefinition | undefined,
    /** told once when the iteration stops occupying a pool slot, and once when it is over */
    private readonly owner: ExecutionOwner,
    /** where the write of its outcome reports back */
    private readonly writer: OutcomeWriter,
  ) {
    this.abortRequested = run.abortRequested;
    this.progress = run.progress;
  }

  /**
   * The task's code is done with this iteration (it answered, or it was given up on): its pool
   * slot serves the next run while the outcome is being written.
   */
  releaseSlot(): void {
    if (this.slotReleased) return;
    this.slotReleased = true;
    this.owner.slotReleased(this);
  }

  /** the iteration is over (written, finalised, or given up): its owner forgets it; once */
  complete(): void {
    if (this.over) return;
    this.over = true;
    this.releaseSlot();
    this.owner.completed(this);
  }

  resolve(result: UpdateResult): void {
    this.writer.written(this, result);
  }

  reject(error: unknown): void {
    this.writer.writeFailed(this, error);
  }

  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.abortReason) this.abortController.abort(this.abortReason);
    }
    return this.abortController.signal;
  }

  fire(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.abortController?.abort(reason);
    if (this.sleepers) for (const wake of this.sleepers) wake();
    this.sleepers = undefined;
  }

  requestAbort(message?: string): void {
    this.abortRequested = true;
    if (message) this.abortMessage = message;
    const err = new Error(message ? `Run aborted: ${message}` : 'Run aborted');
    err.name = 'AbortError';
    this.fire(err);
  }

  sleep(ms: number): Promise<boolean> {
    if (this.abortRequested || this.detached) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        timer.clear();
        resolve(false);
      };
      // `ms` was checked (at most 10 years): a sleep longer than a Node timer re-arms, never ends early
      const timer = new LongTimeout(() => {
        this.sleepers?.delete(wake);
        resolve(!this.abortRequested);
      }, ms);
      (this.sleepers ??= new Set()).add(wake);
    });
  }
}
