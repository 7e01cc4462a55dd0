import { injectable } from 'inversify';

export interface Mail {
  to: string;
  subject: string;
  sentAt: string;
}

/** Sends e-mails (into an in-memory outbox: this is a demo). */
@injectable()
export class Mailer {
  readonly outbox: Mail[] = [];

  async send(to: string, subject: string): Promise<Mail> {
    await new Promise((r) => setTimeout(r, 1));
    const mail = { to, subject, sentAt: new Date().toISOString() };
    this.outbox.push(mail);
    return mail;
  }
}
