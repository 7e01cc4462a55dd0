import type { Logger } from 'winston';
import type { AcceptRules } from '../api/types';
import type { Distribution } from '../ports/distribution';
import type { Scheduler } from '../ports/scheduler';
import type { RunStorage } from '../ports/storage';
import type { Clock } from '../ports/clock';

/** Options of `tasklane({...})`. Every field is optional. */
export interface TasklaneOptions {
  storage?: RunStorage;
  distribution?: Distribution;
  scheduler?: Scheduler;
  logger?: Logger;
  clock?: Clock;
  /** this node's id (default `<hostname>-<pid>`) */
  nodeId?: string;
  /** the worker pool's size: iterations running at once on this node (default 50) */
  concurrency?: number;
  /** which distributable definitions this node executes */
  accept?: AcceptRules;
  /** how long a claimed run is held without renewal (default 30 s); renewed every third of it */
  leaseMs?: number;
  /** safety poll for due, released and expired runs (default 1 s) */
  pollMs?: number;
  /** how long after iterationTimeout a run that has not answered is failed (default 5 s) */
  timeoutGraceMs?: number;
  /**
   * how long after its schedule started a node acts on the ticks it found missed (default 2 s):
   * a live node whose timer fires a tick a little late records it first
   */
  catchUpGraceMs?: number;
  /** default for definitions that do not set it (1 MiB) */
  maxInputBytes?: number;
  /**
   * default for definitions that do not set it (10,000): the most object keys and array elements
   * one input may hold, counted over all of it; more is refused with INPUT_TOO_COMPLEX before the
   * input class is built or validated (what class-validator does per element is bounded by it)
   */
  maxInputKeys?: number;
  /** default for definitions that do not set it (1 MiB) */
  maxOutputBytes?: number;
  /**
   * default `maxBacklog` (the most pending runs per definition) for definitions that do not set
   * their own; a positive integer. Unset: definitions without their own are unlimited.
   */
  maxBacklog?: number;
}

export interface ResolvedOptions {
  nodeId: string;
  concurrency: number;
  accept: AcceptRules;
  leaseMs: number;
  pollMs: number;
  timeoutGraceMs: number;
  catchUpGraceMs: number;
  maxInputBytes: number;
  maxInputKeys: number;
  maxOutputBytes: number;
  maxBacklog?: number;
}
