import { UnknownTaskDefinitionError } from '../../api/errors';
import type { DefinitionInfo } from '../../api/task-options';
import type { TaskRun } from '../../api/types';
import { OPERATION_ROLES } from '../auth/role-table';
import { mayAct } from '../auth/principal';
import type { EventStream } from '../events/event-stream';
import { forbidden, taskNotFound } from './errors';
import type { Call } from './context';
import { definitionView, statsView, visiblePage, visibleTo } from './run-views';

type Args = Record<string, unknown>;
/** one operation of the schema: `<root>.<field>` of the role table */
export type Operation = (args: Args, call: Call) => unknown;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** the definitions the caller may see: public ones, and private ones for admins when asked */
async function definitions(call: Call, includePrivate: boolean): Promise<Record<string, unknown>[]> {
  const [infos, stats] = await Promise.all([call.deps.service.listDefinitions({ includePrivate }), call.stats()]);
  const byId = new Map(stats.map((s) => [s.definitionId, s]));
  return infos.map((info) => definitionView(info, byId.get(info.id), call.principal));
}

async function definition(call: Call, id: string): Promise<Record<string, unknown> | null> {
  const all = await definitions(call, call.isAdmin);
  return all.find((d) => d.id === id) ?? null;
}

/** a definition the caller may act on; private ones are unknown through the API */
async function actionableDefinition(call: Call, id: string): Promise<DefinitionInfo> {
  const info = (await call.deps.service.listDefinitions({ includePrivate: false })).find((d) => d.id === id);
  if (!info) throw new UnknownTaskDefinitionError(id);
  return info;
}

/** the run, when the caller may see it */
async function visibleRun(call: Call, id: string): Promise<TaskRun | null> {
  const run = await call.deps.service.get(id);
  return visibleTo(call.principal, run) ? run : null;
}

async function requireRun(call: Call, id: string): Promise<TaskRun> {
  const run = await visibleRun(call, id);
  if (!run) throw taskNotFound(id);
  return run;
}

/** the operations, by role-table key (see OPERATION_ROLES) */
export const OPERATIONS: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'query.me',
    (_args, call) => ({
      name: call.principal.name,
      role: call.principal.role,
      tenant: call.principal.tenant ?? null,
      allowed: [...OPERATION_ROLES].filter(([, role]) => mayAct(call.principal, role)).map(([op]) => op),
    }),
  ],
  [
    'query.listDefinitions',
    (args, call) => {
      const includePrivate = args.includePrivate === true;
      const needed = OPERATION_ROLES.get('query.listDefinitions(includePrivate)');
      if (includePrivate && (!needed || !mayAct(call.principal, needed))) throw forbidden('list private definitions');
      return definitions(call, includePrivate);
    },
  ],
  ['query.getDefinition', (args, call) => definition(call, String(args.id))],
  [
    'query.listTasks',
    (args, call) => {
      const where = (args.where ?? {}) as Args;
      const status = str(where.status);
      return visiblePage(call.principal, call.deps.service, {
        definition: str(where.definitionId),
        status: status as TaskRun['status'] | undefined,
        parentId: str(where.parentId),
        tenant: str(where.tenant),
        limit: int(args.limit),
        cursor: str(args.after),
      });
    },
  ],
  ['query.getTask', (args, call) => visibleRun(call, String(args.id))],
  [
    'query.listLogs',
    async (args, call) => {
      const taskId = String((args.where as Args).taskId);
      await requireRun(call, taskId);
      const page = await call.deps.service.listLogs({ runId: taskId, limit: int(args.limit), cursor: str(args.after) });
      return {
        items: page.items.map((l) => ({ taskId: l.runId, type: l.type, message: l.message, data: l.data ?? null, createdOn: l.createdOn })),
        cursor: page.cursor ?? null,
      };
    },
  ],
  ['query.stats', async (_args, call) => (await call.stats()).map((row) => statsView(row, call.principal))],
  [
    'query.nodes',
    async (_args, call) =>
      (await call.deps.access.liveNodes()).map((n) => ({
        id: n.nodeId,
        version: n.version,
        accept: n.accept,
        startedOn: n.startedOn,
        lastSeenOn: n.heartbeatOn ?? null,
      })),
  ],
  [
    'mutation.triggerTask',
    async (args, call) => {
      const { principal, deps } = call;
      const def = await actionableDefinition(call, String(args.definition));
      const parent = str(args.parent);
      const after = str(args.after);
      let key = str(args.key);
      if (principal.tenant !== undefined) {
        // a tenant refers only to its own runs, and its idempotency keys are its own
        for (const id of [parent, after]) if (id !== undefined) await requireRun(call, id);
        if (key !== undefined) key = `tenant:${principal.tenant}:${key}`;
      }
      deps.logger.info(`tasklane management: ${principal.name} triggers ${def.id}`, { principal: principal.name, definitionId: def.id });
      return deps.service.trigger({
        definition: def.id,
        ...(args.input !== undefined && args.input !== null ? { input: args.input } : {}),
        ...(str(args.name) !== undefined ? { name: str(args.name) } : {}),
        ...(int(args.delay) !== undefined ? { delay: int(args.delay) } : {}),
        ...(parent !== undefined ? { parent } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(key !== undefined ? { key } : {}),
        // a tenant's runs carry its tenant, whatever else is asked
        ...(principal.tenant !== undefined ? { context: { tenant: principal.tenant } } : {}),
      });
    },
  ],
  [
    'mutation.abortTask',
    async (args, call) => {
      const run = await requireRun(call, String(args.id));
      call.deps.logger.info(`tasklane management: ${call.principal.name} aborts run ${run.id}`, { principal: call.principal.name, runId: run.id });
      return call.deps.service.abort({ id: run.id, ...(str(args.message) !== undefined ? { message: str(args.message) } : {}) });
    },
  ],
  [
    'mutation.retryTask',
    async (args, call) => {
      const run = await requireRun(call, String(args.id));
      call.deps.logger.info(`tasklane management: ${call.principal.name} retries run ${run.id}`, { principal: call.principal.name, runId: run.id });
      // the new run carries the old one's context: a tenant's retry stays its tenant's
      return call.deps.service.retry(run.id);
    },
  ],
  [
    'mutation.deleteTask',
    async (args, call) => {
      const run = await visibleRun(call, String(args.id));
      if (!run) return false;
      call.deps.logger.info(`tasklane management: ${call.principal.name} deletes run ${run.id}`, { principal: call.principal.name, runId: run.id });
      return call.deps.service.delete(run.id);
    },
  ],
  [
    'mutation.restartDefinition',
    async (args, call) => {
      const def = await actionableDefinition(call, String(args.id));
      const message = str(args.message);
      const result = await call.deps.service.restart(def.id, message !== undefined ? { message } : {});
      call.deps.logger.info(`tasklane management: ${call.principal.name} restarts ${def.id}`, { principal: call.principal.name, ...result });
      return definition(call, def.id);
    },
  ],
  [
    'mutation.disableDefinition',
    async (args, call) => {
      const def = await actionableDefinition(call, String(args.id));
      await call.deps.service.disable(def.id);
      call.deps.logger.info(`tasklane management: ${call.principal.name} disables ${def.id}`, { principal: call.principal.name, definitionId: def.id });
      return definition(call, def.id);
    },
  ],
  [
    'mutation.enableDefinition',
    async (args, call) => {
      const def = await actionableDefinition(call, String(args.id));
      await call.deps.service.enable(def.id);
      call.deps.logger.info(`tasklane management: ${call.principal.name} enables ${def.id}`, { principal: call.principal.name, definitionId: def.id });
      return definition(call, def.id);
    },
  ],
  [
    'subscription.backgroundTaskEvents',
    async (args, call): Promise<EventStream> => {
      const taskId = str(args.taskId);
      const definitionId = str(args.definitionId);
      // a dropped subscriber (it did not read) has its connection closed: nothing more is written to it
      const stream = call.deps.hub.subscribe({ taskId, definitionId, tenant: call.principal.tenant }, () => call.res?.destroy());
      if (taskId === undefined) return stream;
      // registered first, read next: an end between the two is not missed
      try {
        const run = await visibleRun(call, taskId);
        if (!run) throw taskNotFound(taskId);
        // already ended: no past events; the stream completes (after an end that raced the read)
        if (run.status === 'success' || run.status === 'failed' || run.status === 'aborted') stream.end();
      } catch (err) {
        await stream.return();
        throw err;
      }
      return stream;
    },
  ],
]);
