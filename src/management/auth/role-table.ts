import type { Role } from './principal';

/**
 * Who may do what (MANAGEMENT.md section 3), as data: every operation of the schema, by
 * `<root>.<field>` (`query`, `mutation`, `subscription`), with the least role it needs; an
 * argument that needs more has a row of its own (`<root>.<field>(<argument>)`).
 *
 * The schema's guard looks each operation up here and refuses one without a row (fail-closed), and
 * the authorisation test fails when an operation of the built schema has no row: a new mutation
 * cannot ship unguarded.
 */
export const OPERATION_ROLES: ReadonlyMap<string, Role> = new Map<string, Role>([
  ['query.me', 'viewer'],
  ['query.listDefinitions', 'viewer'],
  ['query.listDefinitions(includePrivate)', 'admin'],
  ['query.getDefinition', 'viewer'],
  ['query.listTasks', 'viewer'],
  ['query.getTask', 'viewer'],
  ['query.listLogs', 'viewer'],
  ['query.stats', 'viewer'],
  ['query.nodes', 'viewer'],
  ['mutation.triggerTask', 'operator'],
  ['mutation.abortTask', 'operator'],
  ['mutation.retryTask', 'operator'],
  ['mutation.deleteTask', 'admin'],
  ['mutation.restartDefinition', 'operator'],
  ['mutation.disableDefinition', 'operator'],
  ['mutation.enableDefinition', 'operator'],
  ['subscription.backgroundTaskEvents', 'viewer'],
]);
