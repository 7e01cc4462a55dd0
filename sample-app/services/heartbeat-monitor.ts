import { injectable } from 'inversify';

/** Remembers when the scheduled heartbeat last ran. */
@injectable()
export class HeartbeatMonitor {
  readonly beats: string[] = [];

  beat(at: string): number {
    this.beats.push(at);
    return this.beats.length;
  }
}
