import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import { LEAK_GUARD_KEY, type LeakGuard } from './leak-guard-contract';

/**
 * jest's node environment, plus the leak guard's check once a test file's last afterAll hook has
 * run (see leak-guard.ts for why it is not an afterAll hook itself). A leak fails the file the way a
 * failing afterAll hook does: as an error of the file, listed with each leak and where it was made.
 */
// handleTestEvent is optional in jest's environment contract, so the base class does not declare it
export default class LeakGuardEnvironment extends TestEnvironment {
  async handleTestEvent(event: Circus.Event, state: Circus.State): Promise<void> {
    if (event.name !== 'run_finish') return;
    const guard = (this.global as unknown as Record<symbol, LeakGuard | undefined>)[LEAK_GUARD_KEY];
    if (!guard) return; // a file run without setupFilesAfterEnv: nothing was tracked
    const leaks = await guard.check();
    if (leaks.length === 0) return;
    const error = new Error(`leak guard: the test file left ${leaks.length} thing(s) running:\n  - ${leaks.join('\n  - ')}`);
    error.stack = error.message; // the lines say where each leak was made; a frame of this file would only mislead
    state.unhandledErrors.push(error);
  }
}
