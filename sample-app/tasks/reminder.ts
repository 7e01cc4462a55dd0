import { inject } from 'inversify';
import { IsEmail } from 'class-validator';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { Mailer } from '../services/mailer';

export class ReminderInput {
  @IsEmail() to!: string;
}

/** A reminder, triggered with a delay: it stays pending until then. */
@Task({ id: 'mail.reminder', title: 'Send a reminder', input: ReminderInput })
export class ReminderTask implements TaskDefinition<ReminderInput, { to: string; sentAt: string }> {
  constructor(@inject(Mailer) private readonly mailer: Mailer) {}

  async run({ input, controller, run }: TaskRunParams<ReminderInput, { to: string; sentAt: string }>) {
    const mail = await this.mailer.send(input.to, 'Your import is done');
    const waited = Date.parse(mail.sentAt) - Date.parse(run.createdOn);
    controller.log.info(`reminder sent ${waited} ms after the trigger`);
    return controller.response.done({ to: mail.to, sentAt: mail.sentAt });
  }
}
