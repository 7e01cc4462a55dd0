import { GraphQLObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { Container } from 'inversify';
import type { Logger } from 'winston';
import type { TaskRun } from '../../api/types';
import { EngineAccess } from '../../core/observation/engine-access';
import { TaskService } from '../../core/service/task-service';
import { TOKENS } from '../../ports/tokens';
import { mayAct, type Principal } from '../auth/principal';
import { OPERATION_ROLES } from '../auth/role-table';
import { EventHub } from '../events/event-hub';
import { apiError, forbidden, toGraphQLError, unauthenticated } from './errors';
import { Call, type ManagementContext, type ManagementDeps } from './context';
import { JsonScalar } from './json-scalar';
import { OPERATIONS } from './operations';
import { visiblePage } from './run-views';
import { TYPE_DEFS } from './type-defs';

export interface ManagementSchemaOptions {
  container: Container;
  /**
   * The caller of a request, from the GraphQL context (default: `context.principal`). A host that
   * merges the schema into its own gateway puts its principal there; none means UNAUTHENTICATED.
   */
  principal?: (context: unknown) => Principal | null | undefined;
  /** queued events per subscriber before it is dropped (default 1000) */
  maxSubscriptionBuffer?: number;
}

/** the namespace types and their role-table roots */
const ROOTS: ReadonlyArray<[type: string, root: string]> = [
  ['BackgroundTasksQuery', 'query'],
  ['BackgroundTasksMutation', 'mutation'],
  ['Subscription', 'subscription'],
];

export const DEFAULT_MAX_BUFFER = 1000;

/**
 * The management GraphQL schema alone (for hosts that merge it into their own gateway): root
 * fields `backgroundTasks` (query, mutation) and `backgroundTaskEvents` (subscription). Every
 * operation is guarded by the role table; the depth and size limits are the server's job (see
 * `managementValidationRules()` to add them to a gateway).
 */
export function createManagementSchema(options: ManagementSchemaOptions): GraphQLSchema {
  const container = options.container;
  const service = container.get(TaskService);
  const access = new EngineAccess(container);
  const hub = new EventHub(service, access, options.maxSubscriptionBuffer ?? DEFAULT_MAX_BUFFER);
  const deps: ManagementDeps = { service, access, hub, logger: container.get<Logger>(TOKENS.Logger) };
  return buildSchema(deps, options.principal ?? ((context) => (context as ManagementContext | undefined)?.principal));
}

/** the schema over the given dependencies (the server passes its own event hub) */
export function buildSchema(deps: ManagementDeps, principalOf: (context: unknown) => Principal | null | undefined): GraphQLSchema {
  const { logger } = deps;
  const namespace = () => ({});
  const children: GraphQLFieldResolver<TaskRun, unknown> = async (run, args, context) => {
    try {
      const principal = principalOf(context);
      if (!principal) throw unauthenticated();
      const { limit, after } = args as { limit?: number; after?: string };
      return await visiblePage(principal, deps.service, { parentId: run.id, limit, cursor: after });
    } catch (err) {
      throw toGraphQLError(err, logger);
    }
  };
  const inputSchema: GraphQLFieldResolver<{ id: string; hasInput: boolean }, unknown> = (def) => {
    try {
      return def.hasInput ? deps.service.describeInput(def.id) : null;
    } catch (err) {
      throw toGraphQLError(err, logger);
    }
  };
  // a run's error: its stack (the task's own code) for operators and admins only
  const runError: GraphQLFieldResolver<TaskRun, unknown> = (run, _args, context) => {
    const error = run.error;
    if (!error || error.stack === undefined) return error ?? null;
    const principal = principalOf(context);
    if (principal && mayAct(principal, 'operator')) return error;
    const { stack: _hidden, ...rest } = error;
    return rest;
  };
  const locals: GraphQLFieldResolver<{ id: string }, unknown> = async (def) => {
    try {
      return await deps.service.locals(def.id);
    } catch (err) {
      throw toGraphQLError(err, logger);
    }
  };
  const schema = createSchema({
    typeDefs: TYPE_DEFS,
    resolvers: {
      JSON: JsonScalar,
      Query: { backgroundTasks: namespace },
      Mutation: { backgroundTasks: namespace },
      TaskRunInfo: { children, error: runError },
      TaskDefinitionInfo: { inputSchema, locals },
    },
  });
  for (const [typeName, root] of ROOTS) {
    const type = schema.getType(typeName);
    if (!(type instanceof GraphQLObjectType)) throw new Error(`management schema: ${typeName} is missing`);
    for (const field of Object.values(type.getFields())) {
      const key = `${root}.${field.name}`;
      const guarded = guard(key, deps, principalOf);
      if (root === 'subscription') {
        field.subscribe = guarded;
        field.resolve = (payload: unknown) => payload;
      } else {
        field.resolve = guarded;
      }
    }
  }
  return schema;
}

/**
 * The resolver of one operation: the caller must be known (UNAUTHENTICATED) and hold the role the
 * table gives the operation (FORBIDDEN; an operation without a row is refused to everyone).
 * Errors leave as GraphQL errors with tasklane's codes, or INTERNAL with an id (see toGraphQLError).
 */
function guard(key: string, deps: ManagementDeps, principalOf: (context: unknown) => Principal | null | undefined): GraphQLFieldResolver<unknown, unknown> {
  return async (_source, args, context) => {
    try {
      const principal = principalOf(context);
      if (!principal) throw unauthenticated();
      const needed = OPERATION_ROLES.get(key);
      if (!needed) throw forbidden(`use ${key} (it has no row in the role table)`);
      if (!mayAct(principal, needed)) throw forbidden(`use ${key} (it needs ${needed})`);
      const operation = OPERATIONS.get(key);
      if (!operation) throw apiError('INTERNAL', `${key} is not implemented`);
      return await operation(args as Record<string, unknown>, new Call(principal, deps, (context as ManagementContext | undefined)?.res));
    } catch (err) {
      throw toGraphQLError(err, deps.logger);
    }
  };
}
