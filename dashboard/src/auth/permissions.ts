import type { Viewer } from '../api/types';

/** What a button does, by the operation of the server's role table it calls. */
const OPERATION = {
  trigger: 'mutation.triggerTask',
  abort: 'mutation.abortTask',
  retry: 'mutation.retryTask',
  delete: 'mutation.deleteTask',
  disable: 'mutation.disableDefinition',
  enable: 'mutation.enableDefinition',
  restart: 'mutation.restartDefinition',
} as const;

export type Action = keyof typeof OPERATION;

/**
 * Whether the signed-in principal may use an action: the server says so in `me.allowed` (its own role
 * table), so the page never shows a button the server would refuse, and needs no copy of the table.
 */
export function may(viewer: Viewer, action: Action): boolean {
  return viewer.allowed.includes(OPERATION[action]);
}
