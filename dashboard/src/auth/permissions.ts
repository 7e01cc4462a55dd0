import type { Role } from '../api/types';

/** What a role may do from the page, as MANAGEMENT.md section 3 says; the server enforces it again. */
export type Action = 'trigger' | 'abort' | 'retry' | 'delete' | 'disable';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

const MINIMUM: Record<Action, Role> = {
  trigger: 'operator',
  abort: 'operator',
  retry: 'operator',
  disable: 'operator',
  delete: 'admin',
};

export function may(role: Role, action: Action): boolean {
  return RANK[role] >= RANK[MINIMUM[action]];
}
