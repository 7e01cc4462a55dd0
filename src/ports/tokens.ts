/** Container tokens of the swappable parts. */
export const TOKENS = {
  Storage: Symbol.for('tasklane.Storage'),
  Distribution: Symbol.for('tasklane.Distribution'),
  Scheduler: Symbol.for('tasklane.Scheduler'),
  Logger: Symbol.for('tasklane.Logger'),
  Clock: Symbol.for('tasklane.Clock'),
  Options: Symbol.for('tasklane.Options'),
} as const;
