import { inject } from 'inversify';
import { IsInt, Max, Min } from 'class-validator';
import { Task, TaskService, type TaskDefinition, type TaskRunParams } from '../../src';
import { Mailer } from '../services/mailer';
import { UserRepository } from '../services/user-repository';

export class SendWelcomeBatchInput {
  @IsInt() @Min(0) offset!: number;
  @IsInt() @Min(1) limit!: number;
}

/** A child run: sends the welcome mail to one slice of the users. */
@Task({ id: 'mail.send-welcome-batch', title: 'Send welcome mails (one batch)', input: SendWelcomeBatchInput, concurrency: 2 })
export class SendWelcomeBatchTask implements TaskDefinition<SendWelcomeBatchInput, { sent: number }> {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(Mailer) private readonly mailer: Mailer,
  ) {}

  async run({ input, controller }: TaskRunParams<SendWelcomeBatchInput, { sent: number }>) {
    const slice = this.users.slice(input.offset, input.limit);
    let sent = 0;
    for (const user of slice) {
      if (controller.runtime.isAborted()) return controller.response.aborted();
      await this.mailer.send(user.email, `Welcome, ${user.name}!`);
      sent++;
      if (sent % 25 === 0 || sent === slice.length) controller.progress({ info: `${sent}/${slice.length} mails`, current: sent, total: slice.length });
    }
    return controller.response.done({ sent });
  }
}

export class WelcomeCampaignInput {
  @IsInt() @Min(1) @Max(20) batches!: number;
}

/**
 * A parent run: fans out one child run per slice of users, then waits for them without holding a
 * worker: it answers continue() with a delay and looks at its children again.
 */
@Task({ id: 'mail.welcome-campaign', title: 'Welcome campaign', input: WelcomeCampaignInput, maxIterations: 200 })
export class WelcomeCampaignTask implements TaskDefinition<WelcomeCampaignInput, { children: number; sent: number }> {
  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(TaskService) private readonly tasks: TaskService,
  ) {}

  async run({ input, controller, run }: TaskRunParams<WelcomeCampaignInput, { children: number; sent: number }>) {
    let children = await controller.store.get<string[]>('children');
    if (!children) {
      const total = this.users.count();
      const size = Math.ceil(total / input.batches);
      children = [];
      for (let offset = 0; offset < total; offset += size) {
        const child = await controller.trigger({
          definition: SendWelcomeBatchTask,
          input: { offset, limit: size },
          name: `welcome ${offset + 1}-${Math.min(total, offset + size)}`,
        });
        children.push(child.id);
      }
      await controller.store.set('children', children);
      controller.log.info(`${children.length} child runs for ${total} users`);
    }
    const runs = (await this.tasks.listRuns({ parentId: run.id, limit: 100 })).items;
    const ended = runs.filter((r) => r.status === 'success' || r.status === 'failed' || r.status === 'aborted');
    controller.progress({ info: `${ended.length}/${children.length} batches done`, current: ended.length, total: children.length });
    if (controller.runtime.isAborted()) return controller.response.aborted();
    if (ended.length < children.length) return controller.response.continue({}, { delay: 250 });
    const failed = ended.filter((r) => r.status !== 'success');
    if (failed.length > 0) return controller.response.error({ message: `${failed.length} batch(es) did not succeed`, code: 'CAMPAIGN_INCOMPLETE' });
    const sent = ended.reduce((n, r) => n + ((r.output as { sent?: number } | undefined)?.sent ?? 0), 0);
    return controller.response.done({ children: children.length, sent });
  }
}
