/** The engine's source of time. Tests may bind a fake one to TOKENS.Clock. */
export interface Clock {
  /** epoch ms */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
