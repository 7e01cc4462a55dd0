import { inject } from 'inversify';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { HeartbeatMonitor } from '../services/heartbeat-monitor';

/** Runs on a schedule, every two seconds, while the app runs. */
@Task({ id: 'app.heartbeat', title: 'Heartbeat', schedule: { cron: '*/2 * * * * *' } })
export class HeartbeatTask implements TaskDefinition<undefined, { beat: number }> {
  constructor(@inject(HeartbeatMonitor) private readonly monitor: HeartbeatMonitor) {}

  async run({ controller, run }: TaskRunParams<undefined, { beat: number }>) {
    const beat = this.monitor.beat(run.scheduledFor ?? new Date().toISOString());
    controller.progress({ info: `beat ${beat}`, current: 1, total: 1 });
    return controller.response.done({ beat });
  }
}
