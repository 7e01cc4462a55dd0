/**
 * tasklane/management: the operator surface (MANAGEMENT.md). Importing it loads graphql,
 * graphql-yoga and prom-client; the core entry (`tasklane`) never does.
 */
export { serveManagement, type ServeOptions, type ManagementServer } from './http/serve-management';
export { createManagementHandler, type ManagementOptions, type ManagementHandler } from './http/management-handler';
export { createManagementSchema, type ManagementSchemaOptions } from './graphql/schema';
export { estimatedFieldsRule, queryLimitPlugins, type QueryLimits } from './graphql/query-limits';
export { tokenAuth, type TokenEntry } from './auth/token-auth';
export { ROLES, type Role, type Principal, type AuthFunction } from './auth/principal';
export { OPERATION_ROLES } from './auth/role-table';
export { createMetricsHandler, serveMetrics, type MetricsServer } from './metrics/metrics-endpoint';
export type { TaskEventPayload } from './events/event-stream';
