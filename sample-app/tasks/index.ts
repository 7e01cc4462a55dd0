import type { TaskClass } from '../../src';
import { ExportUsersTask } from './export-users';
import { HeartbeatTask } from './heartbeat';
import { ImportCrmUsersTask, type ImportTotals } from './import-crm-users';
import { ReminderTask } from './reminder';
import { UsersReportTask } from './users-report';
import { SendWelcomeBatchTask, WelcomeCampaignTask } from './welcome-campaign';

export { ExportUsersTask, HeartbeatTask, ImportCrmUsersTask, ReminderTask, UsersReportTask, SendWelcomeBatchTask, WelcomeCampaignTask, type ImportTotals };

export const SAMPLE_TASKS: TaskClass[] = [
  ImportCrmUsersTask,
  UsersReportTask,
  WelcomeCampaignTask,
  SendWelcomeBatchTask,
  ExportUsersTask,
  ReminderTask,
  HeartbeatTask,
];
