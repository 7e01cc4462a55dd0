import type { DefinitionDetail, DefinitionInfo, DefinitionWithSchema, LogEntry, NodeInfo, Page, RunDetail, RunSummary, TaskEvent, Viewer } from './types';

/**
 * A GraphQL document typed with the data it answers (`R`) and the variables it takes (`V`).
 * The phantom fields exist only for the type checker: `client.request(op, vars)` then checks the
 * variables and types the answer without a cast at the call site.
 */
export interface Operation<R, V> {
  readonly query: string;
  readonly __result?: R;
  readonly __variables?: V;
}

function operation<R, V = Record<string, never>>(query: string): Operation<R, V> {
  return { query };
}

type Ns<T> = { backgroundTasks: T };

const RUN_SUMMARY = /* GraphQL */ `
  fragment RunSummary on TaskRunInfo {
    id definitionId name status progress iterations attempt retries parentId createdOn startedOn finishedOn nodeId
  }
`;

const RUN_DETAIL = /* GraphQL */ `
  fragment RunDetail on TaskRunInfo {
    ...RunSummary
    input output error context key after runAt retryOf
    children(limit: $childLimit) { items { ...RunSummary } cursor }
  }
  ${RUN_SUMMARY}
`;

const DEFINITION = /* GraphQL */ `
  fragment Definition on TaskDefinitionInfo {
    id title description isPrivate distributable concurrency maxIterations status faultReason schedule { cron timezone }
    stats { definitionId status queueSize queuePeak evalNum errNum evalTotalTime evalAvgTime retryNum missedTicks lastError }
  }
`;

/** what a definition's own page adds to the list's fields; `locals` is a storage read, so the list leaves it out */
const DEFINITION_DETAIL = /* GraphQL */ `
  fragment DefinitionDetail on TaskDefinitionInfo {
    ...Definition
    iterationTimeout maxBacklog locals
  }
  ${DEFINITION}
`;

/** Who is signed in: the page shows only what this role may use (the server checks again). */
export const MeQuery = operation<Ns<{ me: Viewer }>>(/* GraphQL */ `
  query Me { backgroundTasks { me { name role tenant allowed } } }
`);

export const DefinitionsQuery = operation<Ns<{ listDefinitions: DefinitionInfo[] }>>(/* GraphQL */ `
  query Definitions { backgroundTasks { listDefinitions { ...Definition } } }
  ${DEFINITION}
`);

/** the trigger form's query: the only one that asks for `inputSchema`, which the lists, refreshed every few seconds, leave out */
export const DefinitionQuery = operation<Ns<{ getDefinition: DefinitionWithSchema | null }>, { id: string }>(/* GraphQL */ `
  query Definition($id: ID!) { backgroundTasks { getDefinition(id: $id) { ...Definition inputSchema } } }
  ${DEFINITION}
`);

export const DefinitionDetailQuery = operation<Ns<{ getDefinition: DefinitionDetail | null }>, { id: string }>(/* GraphQL */ `
  query DefinitionDetail($id: ID!) { backgroundTasks { getDefinition(id: $id) { ...DefinitionDetail } } }
  ${DEFINITION_DETAIL}
`);

export interface RunsWhere {
  definitionId?: string;
  status?: string;
  parentId?: string;
}

export const RunsQuery = operation<Ns<{ listTasks: Page<RunSummary> }>, { where: RunsWhere; limit: number; after?: string }>(/* GraphQL */ `
  query Runs($where: TaskRunsWhere, $limit: Int, $after: String) {
    backgroundTasks { listTasks(where: $where, limit: $limit, after: $after) { items { ...RunSummary } cursor } }
  }
  ${RUN_SUMMARY}
`);

export const RunQuery = operation<Ns<{ getTask: RunDetail | null }>, { id: string; childLimit: number }>(/* GraphQL */ `
  query Run($id: ID!, $childLimit: Int) { backgroundTasks { getTask(id: $id) { ...RunDetail } } }
  ${RUN_DETAIL}
`);

export const LogsQuery = operation<Ns<{ listLogs: Page<LogEntry> }>, { taskId: string; limit: number; after?: string }>(/* GraphQL */ `
  query Logs($taskId: ID!, $limit: Int, $after: String) {
    backgroundTasks { listLogs(where: { taskId: $taskId }, limit: $limit, after: $after) { items { taskId type message data createdOn } cursor } }
  }
`);

export const NodesQuery = operation<Ns<{ nodes: NodeInfo[] }>>(/* GraphQL */ `
  query Nodes { backgroundTasks { nodes { id version accept startedOn lastSeenOn } } }
`);

export const TriggerMutation = operation<Ns<{ triggerTask: RunSummary }>, { definition: string; input?: unknown }>(/* GraphQL */ `
  mutation Trigger($definition: ID!, $input: JSON) {
    backgroundTasks { triggerTask(definition: $definition, input: $input) { ...RunSummary } }
  }
  ${RUN_SUMMARY}
`);

export const AbortMutation = operation<Ns<{ abortTask: RunSummary }>, { id: string; message?: string }>(/* GraphQL */ `
  mutation Abort($id: ID!, $message: String) { backgroundTasks { abortTask(id: $id, message: $message) { ...RunSummary } } }
  ${RUN_SUMMARY}
`);

export const RetryMutation = operation<Ns<{ retryTask: RunSummary }>, { id: string }>(/* GraphQL */ `
  mutation Retry($id: ID!) { backgroundTasks { retryTask(id: $id) { ...RunSummary } } }
  ${RUN_SUMMARY}
`);

export const DeleteMutation = operation<Ns<{ deleteTask: boolean }>, { id: string }>(/* GraphQL */ `
  mutation Delete($id: ID!) { backgroundTasks { deleteTask(id: $id) } }
`);

export const DisableMutation = operation<Ns<{ disableDefinition: { id: string; status: string } }>, { id: string }>(/* GraphQL */ `
  mutation Disable($id: ID!) { backgroundTasks { disableDefinition(id: $id) { id status } } }
`);

export const EnableMutation = operation<Ns<{ enableDefinition: { id: string; status: string } }>, { id: string }>(/* GraphQL */ `
  mutation Enable($id: ID!) { backgroundTasks { enableDefinition(id: $id) { id status } } }
`);

export const RestartMutation = operation<Ns<{ restartDefinition: DefinitionDetail }>, { id: string; message?: string }>(/* GraphQL */ `
  mutation Restart($id: ID!, $message: String) { backgroundTasks { restartDefinition(id: $id, message: $message) { ...DefinitionDetail } } }
  ${DEFINITION_DETAIL}
`);

export const EventsSubscription = operation<{ backgroundTaskEvents: TaskEvent }, { taskId?: string; definitionId?: string }>(/* GraphQL */ `
  subscription Events($taskId: ID, $definitionId: ID) {
    backgroundTaskEvents(taskId: $taskId, definitionId: $definitionId) { type progress run { ...RunSummary } }
  }
  ${RUN_SUMMARY}
`);

export const DefinitionIdsQuery = operation<Ns<{ listDefinitions: Array<{ id: string; title: string | null }> }>>(/* GraphQL */ `
  query DefinitionIds { backgroundTasks { listDefinitions { id title } } }
`);
