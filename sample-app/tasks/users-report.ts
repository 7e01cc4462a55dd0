import { inject } from 'inversify';
import { Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { UserRepository } from '../services/user-repository';

export interface UsersReport {
  users: number;
  fromCrm: number;
  fromCsv: number;
  topDomains: string;
}

/** A report over the users; triggered with `after:` so it waits for the import to end. */
@Task({ id: 'users.report', title: 'Users report' })
export class UsersReportTask implements TaskDefinition<undefined, UsersReport> {
  constructor(@inject(UserRepository) private readonly users: UserRepository) {}

  async run({ controller }: TaskRunParams<undefined, UsersReport>) {
    const report: UsersReport = {
      users: this.users.count(),
      fromCrm: this.users.count('crm'),
      fromCsv: this.users.count('csv'),
      topDomains: this.users
        .topDomains(2)
        .map((d) => `${d.domain}:${d.users}`)
        .join(' '),
    };
    controller.log.info('users report', report);
    return controller.response.done(report);
  }
}
