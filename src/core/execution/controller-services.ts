import type { RunStorage } from '../../ports/storage';
import type { ResolvedOptions } from '../options';
import type { EngineClock } from '../runtime/engine-clock';
import type { RunLog } from '../runtime/run-log';

/** What the parts of a controller read and write through. */
export interface ControllerServices {
  options: ResolvedOptions;
  clock: EngineClock;
  storage: RunStorage;
  runLog: RunLog;
}
