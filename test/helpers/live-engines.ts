/**
 * The engines the test helpers started and the test has not stopped. Kept apart from
 * engine-harness.ts so that the leak guard (leak-guard.ts), loaded before every test file, can read
 * it without loading tasklane itself into files that never start an engine.
 */
export interface LiveEngine {
  /** stops the engine at once (not gracefully) */
  stop(): Promise<void>;
}

export const liveEngines = new Set<LiveEngine>();

/**
 * Stops every engine still running and says how many there were. The leak guard calls it after
 * each test file; a test may call it sooner (through assertNoLiveEngines) to tell which test leaked.
 */
export async function stopLiveEngines(): Promise<number> {
  const left = [...liveEngines];
  liveEngines.clear();
  for (const engine of left) await engine.stop();
  return left.length;
}
