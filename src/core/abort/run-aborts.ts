import type { Logger } from 'winston';
import { TaskNotFoundError } from '../../api/errors';
import type { Distribution } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { AbortResult, RunStorage } from '../../ports/storage';
import { errorFields } from '../../util/safe-string';
import type { RunFinisher } from '../completion/run-finisher';
import type { DefinitionRegistry } from '../definitions/definition-registry';
import type { ActiveExecutions } from '../execution/active-executions';
import type { Execution } from '../execution/execution';
import type { InlineFunctions } from '../execution/inline-functions';
import type { ObserverSet } from '../observation/engine-observer';
import type { StatsTracker } from '../observation/stats-tracker';
import type { EngineClock } from '../runtime/engine-clock';
import type { RunLog } from '../runtime/run-log';
import type { BacklogLimiter } from '../trigger/backlog-limiter';
import { ABORT_MESSAGE_KEY, DEFAULT_ABORT_MESSAGE, parentAbortedMessage } from './abort-message';

/** how deep below the run abort() was called for its descendants are aborted */
const MAX_ABORT_DEPTH = 32;
/**
 * How long a run aborted from another node waits for the abort's message when it learned of the
 * request before the message was stored: the node that asked stores it right after its request
 * (one storage round trip); past this (that node died meanwhile) the run ends with the default
 * message, or its own (a locals write a restart refused).
 */
const MESSAGE_WAIT_MS = 5000;
/** the first look after 20 ms, then each twice as late (at most a second): a few reads per run, not hundreds */
const MESSAGE_FIRST_POLL_MS = 20;
const MESSAGE_MAX_POLL_MS = 1000;

/** what aborting runs reads, writes and tells */
export interface RunAbortsDeps {
  storage: RunStorage;
  distribution: Distribution;
  clock: EngineClock;
  registry: DefinitionRegistry;
  /** the runs executing here: their signals fire at once */
  active: ActiveExecutions;
  finisher: RunFinisher;
  runLog: RunLog;
  backlog: BacklogLimiter;
  stats: StatsTracker;
  observers: ObserverSet;
  inline: InlineFunctions;
  logger: Logger;
}

/**
 * The one home of aborts: requesting one (storage records it: a pending run ends at once, a
 * running one is asked to stop), propagating it to the run's descendants (stored and executing
 * here, and announced to the other nodes), the checkpoints that end a run whose abort came late
 * (a claimed child of an aborted parent, a run that went back to pending for a retry, children
 * triggered after the listing), and the message: kept with a running run, so whichever node
 * ends it stores the message abort() was given.
 */
export class RunAborts {
  /** aborts started by a run's end, which nobody awaits: engine.stop() waits for them (see settled) */
  private readonly detached = new Set<Promise<void>>();

  constructor(private readonly deps: RunAbortsDeps) {}

  /**
   * Resolves once the aborts a run's end started are over (each is bounded: storage calls, and at
   * most MESSAGE_WAIT_MS for a message): engine.stop() closes storage after them, not under them.
   */
  async settled(): Promise<void> {
    while (this.detached.size > 0) await Promise.all([...this.detached]);
  }

  /** `work` never rejects (its failure is logged) */
  private track(work: Promise<unknown>): void {
    const done = work.then(() => {
      this.detached.delete(done);
    });
    this.detached.add(done);
  }

  /** abort() of one run: it, then its unfinished descendants; the run as storage answered */
  async abort(id: string, message: string): Promise<RunRecord> {
    const run = await this.abortOne(id, message, true);
    await this.abortChildren(id, message);
    return run;
  }

  /**
   * Aborts a run as `abort()` does, after its own abort was found stored (a run that went back
   * to pending for a retry while its abort was already requested ends aborted at once, with onAbort)
   */
  async abortAgain(id: string, message: string): Promise<void> {
    await this.abortOne(id, message);
    await this.abortChildren(id, message);
  }

  /** `root`: the run abort() was called for (it and its descendants executing here see it at once) */
  private async abortOne(id: string, message: string, root = false): Promise<RunRecord> {
    const { deps } = this;
    if (root) {
      // The contract's "at once" on the node that received abort(): the run, when it executes
      // here and has not answered, and the runs executing here that descend from it see their
      // abort now, with the message abortChildren gives them, not one storage round trip later
      // (on PostgreSQL under load the round trip alone passed 100 ms). abort() aborts the
      // descendants whatever storage answers for the run (finished too), and storage marks a run
      // executing under a lease `abortRequested` (or it ends first, aborted by this signal).
      const exec = deps.active.get(id);
      if (exec !== undefined && !exec.settled) this.signalHere(exec, message);
      this.abortLocalDescendants(id, message);
    }
    // a run whose signal this node fired is logged and counted already: storage may answer
    // `finished` for it (the signal ended it first), or `requested`
    const told = deps.active.get(id)?.abortTold === true;
    const result = await deps.storage.requestAbort(id, message, deps.clock.nowIso());
    if (result.kind === 'not_found') throw new TaskNotFoundError(id);
    await this.settle(result, message, told);
    return result.run;
  }

  /**
   * Fires the signal of a run executing here for this node's abort(), before storage records the
   * request: the request is logged on the run and counted now, while the run still executes.
   */
  private signalHere(exec: Execution, message: string): void {
    this.requested(exec.run, message);
    exec.abortTold = true;
    exec.requestAbort(message);
  }

  /**
   * A descendant executing here of a run being aborted: its signal fires; logged and counted now
   * when this node's abort() gives its message and it was not aborting yet (`message` undefined:
   * another node announced the abort, and logs it).
   */
  private signalDescendant(exec: Execution, message: string | undefined): void {
    if (message !== undefined && !exec.settled && !exec.abortRequested) this.signalHere(exec, message);
    else exec.requestAbort(message);
  }

  /** an abort request reached a run: counted by the observers, and logged on the run */
  private requested(run: RunRecord, message: string): void {
    const { deps } = this;
    if (deps.observers.on) deps.observers.abortRequested(run);
    deps.runLog.log(deps.registry.get(run.definitionId), run, 'warn', `abort requested: ${message}`);
  }

  /**
   * What follows an abort recorded by storage: a run ended `aborted` left the backlog, is logged
   * and finalised (onAbort, announcement); a running one sees its abort here at once, and on the
   * other nodes through the distribution (its message kept with it for whichever node ends it).
   * `told`: the request was already counted and logged (abort() found the run executing here).
   */
  async settle(result: Exclude<AbortResult, { kind: 'not_found' }>, message: string, told = false): Promise<void> {
    const { deps } = this;
    const run = result.run;
    switch (result.kind) {
      case 'finished':
        return;
      case 'aborted': {
        if (deps.observers.on && !told) deps.observers.abortRequested(run);
        deps.backlog.left(run.definitionId); // a pending run left the backlog
        // it was pending (new, or waiting for its retry) unless it was parked between iterations
        if (run.iterations === run.iterationBase) deps.stats.pendingLeft(run.definitionId);
        const def = deps.registry.get(run.definitionId);
        deps.runLog.log(def, run, 'warn', `aborted: ${message}`);
        deps.inline.delete(run.id);
        await deps.finisher.finalize(def, run, 'abort');
        return;
      }
      case 'requested': {
        if (!told) this.requested(run, message);
        // the request is stored: a run executing here sees it at once (it holds the message itself)
        this.abortLocal(run.id, message);
        // kept with the run, so whichever other node ends it stores the message on the run
        await deps.storage.setValue(run.id, ABORT_MESSAGE_KEY, message);
        await deps.distribution.publishAbort(run.id);
        return;
      }
    }
  }

  /** aborts the unfinished descendants of a run whose abort is stored, down to MAX_ABORT_DEPTH levels */
  async abortChildren(parentId: string, message: string, depth = 0): Promise<void> {
    if (depth > MAX_ABORT_DEPTH) return;
    let cursor: string | undefined;
    do {
      const page = await this.deps.storage.listRuns({ parentId, status: ['pending', 'running'], limit: 200, cursor });
      // Those executing here see the abort at once: their parent's abort is stored, so theirs
      // follows, and a run answers under its own lease whether or not its request is stored yet.
      // Then the children of the page at once, not one store round trip after another: one by
      // one, on PostgreSQL with 100 children, the last signal fired 400 ms after abort() (R15: 100 ms).
      for (const child of page.items) {
        const exec = child.status === 'running' ? this.deps.active.get(child.id) : undefined;
        if (exec !== undefined) this.signalDescendant(exec, parentAbortedMessage(parentId, message));
      }
      await Promise.all(
        page.items.map(async (child) => {
          await this.abortOne(child.id, parentAbortedMessage(parentId, message)).catch(() => undefined);
          await this.abortChildren(child.id, message, depth + 1);
        }),
      );
      cursor = page.cursor;
    } while (cursor);
  }

  /**
   * A run that ended aborted here had triggered children: one a parent on another node triggered
   * after abort() listed its children, before it learned of the abort, is aborted now.
   */
  childrenOfEnded(run: RunRecord): void {
    this.track(
      this.abortChildren(run.id, run.error?.message ?? DEFAULT_ABORT_MESSAGE).catch((err: unknown) =>
        this.deps.logger.warn(`tasklane: aborting the children of ${run.id} failed`, { runId: run.id, ...errorFields(err) }),
      ),
    );
  }

  /**
   * A run failed while its abort was requested and went back to pending for its retry (on a node
   * whose notice had not arrived yet): it ends aborted now rather than at its due time.
   */
  retriedWhileAborting(exec: Execution, stored: RunRecord): void {
    this.track(
      this.messageFor(exec)
        .then((message) => this.abortAgain(stored.id, message ?? DEFAULT_ABORT_MESSAGE))
        .catch((err: unknown) =>
          this.deps.logger.warn(`tasklane: aborting run ${stored.id}, whose abort came while it failed, failed; it ends aborted when due`, {
            runId: stored.id,
            ...errorFields(err),
          }),
        ),
    );
  }

  /** an abort reached this node: fire the run's signal if it executes here */
  abortLocal(runId: string, message?: string): void {
    this.deps.active.get(runId)?.requestAbort(message);
  }

  /** another node announced the abort of a run: it and its descendants executing here see it now */
  announced(runId: string): void {
    this.abortLocal(runId);
    // its descendants executing here are aborted too (abort() aborts the whole tree): now,
    // not once the node that received abort() has listed them and announced each
    this.abortLocalDescendants(runId);
  }

  /**
   * The runs executing (or claimed) here that descend from `ancestorId`, whose abort was just
   * stored: their signals fire now, each with the message abort() stores for it
   * (`parent <its parent> aborted: <message>`), or, when the abort was announced by another node
   * (no `message`), with the message that node stores (read when the run ends: see messageFor).
   * One pass over the active runs per level (at most the pool's size, 32 levels as
   * abortChildren); runs already aborting keep their message.
   */
  abortLocalDescendants(ancestorId: string, message?: string): void {
    const { active } = this.deps;
    let parents = new Set([ancestorId]);
    for (let depth = 0; depth <= MAX_ABORT_DEPTH && parents.size > 0 && active.size > 0; depth++) {
      const next = new Set<string>();
      for (const exec of active.values()) {
        const parentId = exec.run.parentId;
        if (parentId === undefined || !parents.has(parentId)) continue;
        if (!exec.abortRequested) this.signalDescendant(exec, message === undefined ? undefined : parentAbortedMessage(parentId, message));
        next.add(exec.run.id);
      }
      parents = next;
    }
  }

  /**
   * The checkpoint at a claim: the aborted (or abort-requested) parents of claimed child runs,
   * whose children end aborted without running (see startsAborted). abort() aborts the children
   * it lists, but a parent running on another node can trigger a child after that listing and
   * before it learns of its abort: such a child is stored pending with no abort of its own. One
   * read per claim that has children in their first iteration (later ones ran already: an abort
   * of their parent reached them as theirs); a read that fails checks nothing (the parent's end
   * sweeps its children too). Undefined at once when there is nothing to check (no read, no await).
   */
  abortedParents(runs: RunRecord[]): Promise<Set<string> | undefined> | undefined {
    if (!runs.some(mayBeOrphaned)) return undefined;
    return this.readAbortedParents(runs);
  }

  private async readAbortedParents(runs: RunRecord[]): Promise<Set<string> | undefined> {
    const ids = [...new Set(runs.filter(mayBeOrphaned).map((r) => r.parentId as string))];
    try {
      const parents = await this.deps.storage.getRuns(ids);
      return new Set(parents.filter((p) => p.abortRequested || p.status === 'aborted').map((p) => p.id));
    } catch (err) {
      this.deps.logger.warn('tasklane: could not read the parents of claimed runs; their aborts are not checked at start', errorFields(err));
      return undefined;
    }
  }

  /** a claimed run whose parent abortedParents found aborted: it ends aborted without running */
  startsAborted(exec: Execution, abortedParents: Set<string> | undefined): void {
    const parentId = exec.run.parentId;
    if (parentId === undefined || !abortedParents?.has(parentId)) return;
    exec.abortRequested = true;
    exec.abortMessage = parentAbortedMessage(parentId);
  }

  /**
   * The message given to abort(): in memory when the abort came through this node, else stored
   * (undefined when none is found: the run stores the default).
   */
  async messageFor(exec: Execution): Promise<string | undefined> {
    if (exec.abortMessage) return exec.abortMessage;
    const { storage } = this.deps;
    const stored = await storage.getValue(exec.run.id, ABORT_MESSAGE_KEY).catch(() => undefined);
    if (typeof stored === 'string') return stored;
    // a child that learned of its parent's abort here (abortLocalDescendants) may end before the
    // node that received abort() stored its own message: the message it will store is made from
    // the parent's, which was stored before the parent's abort was announced
    const parentId = exec.run.parentId;
    if (parentId !== undefined) {
      const parentMessage = await storage.getValue(parentId, ABORT_MESSAGE_KEY).catch(() => undefined);
      if (typeof parentMessage === 'string') return parentAbortedMessage(parentId, parentMessage);
    }
    // Marked at its first claim (a restart's cut-off, which the claim applies): no message follows.
    // (A pending run's abort ends it at once; a run taken up again keeps an earlier request.)
    if (exec.abortFallbackMessage === undefined && exec.run.abortRequested && exec.run.recoveries === 0) return undefined;
    // The node that asked stores the message right after its request, which this node may have
    // seen first (its lease renewal answered the request, the run was taken up again with its
    // request, a restart's cut-off refused a locals write): wait for it a little
    for (let end = Date.now() + MESSAGE_WAIT_MS, pause = MESSAGE_FIRST_POLL_MS; Date.now() < end; pause = Math.min(pause * 2, MESSAGE_MAX_POLL_MS)) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (exec.abortMessage) return exec.abortMessage; // asked on this node meanwhile
      const later = await storage.getValue(exec.run.id, ABORT_MESSAGE_KEY).catch(() => undefined);
      if (typeof later === 'string') return later;
    }
    return exec.abortFallbackMessage;
  }
}

/** a child in its first iteration whose own abort is not requested: its parent's is checked at the claim */
function mayBeOrphaned(run: RunRecord): boolean {
  return run.parentId !== undefined && run.iterations === 1 && !run.abortRequested;
}
