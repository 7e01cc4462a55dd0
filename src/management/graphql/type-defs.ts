/** The management schema (MANAGEMENT.md section 2: names fixed). */
export const TYPE_DEFS = /* GraphQL */ `
  "Any JSON value."
  scalar JSON

  type Query {
    "Every operation hangs under this namespace field, so that the schema merges into a host's."
    backgroundTasks: BackgroundTasksQuery!
  }

  type Mutation {
    backgroundTasks: BackgroundTasksMutation!
  }

  type Subscription {
    """
    Live events of one run (taskId), of one definition (definitionId), or of every run (neither), on
    every node of the cluster. No past events are sent. By taskId: the stream completes after the
    run's final event (done, failed or aborted), at once when the run has already ended.
    """
    backgroundTaskEvents(taskId: ID, definitionId: ID): TaskEvent!
  }

  type BackgroundTasksQuery {
    "Who the caller is, and the operations its role may use."
    me: PrincipalInfo!
    "Visible definitions; includePrivate: admins only."
    listDefinitions(includePrivate: Boolean): [TaskDefinitionInfo!]!
    "Null when unknown, or private for this caller."
    getDefinition(id: ID!): TaskDefinitionInfo
    "Runs, newest first, by cursor. A caller with a tenant sees its tenant's runs only."
    listTasks(where: TaskRunsWhere, limit: Int, after: String): TaskRunPage!
    "Null when unknown or outside the caller's tenant."
    getTask(id: ID!): TaskRunInfo
    "A run's logs, oldest first."
    listLogs(where: TaskLogsWhere!, limit: Int, after: String): TaskLogPage!
    stats: [TaskStatsRow!]!
    "The live nodes (one row on local distribution)."
    nodes: [NodeInfo!]!
  }

  type BackgroundTasksMutation {
    triggerTask(definition: ID!, input: JSON, name: String, delay: Int, parent: ID, after: ID, key: String): TaskRunInfo!
    abortTask(id: ID!, message: String): TaskRunInfo!
    "A new run of a finished run's definition, with its original input and context; retryOf names the old run."
    retryTask(id: ID!): TaskRunInfo!
    "Deletes a finished run with its logs, stored values and descendants (admins); false when unknown."
    deleteTask(id: ID!): Boolean!
    disableDefinition(id: ID!): TaskDefinitionInfo!
    enableDefinition(id: ID!): TaskDefinitionInfo!
    "Aborts the definition's pending and running runs, resets its stats, clears its locals."
    restartDefinition(id: ID!, message: String): TaskDefinitionInfo!
  }

  type PrincipalInfo {
    name: String!
    role: String!
    tenant: String
    "The operations (as in the role table: query.getTask, mutation.abortTask, ...) this caller may use."
    allowed: [String!]!
  }

  input TaskRunsWhere {
    definitionId: ID
    "pending, running, success, failed or aborted"
    status: String
    parentId: ID
    "runs whose context.tenant is this (a caller with a tenant: its own, or none)"
    tenant: String
  }

  input TaskLogsWhere {
    taskId: ID!
  }

  type TaskSchedule {
    cron: String!
    timezone: String
  }

  type TaskDefinitionInfo {
    id: ID!
    title: String!
    description: String
    isPrivate: Boolean!
    distributable: Boolean!
    concurrency: Int
    maxIterations: Int!
    iterationTimeout: Int!
    maxBacklog: Int
    "idle, pending, running, disabled or fault"
    status: String!
    faultReason: String
    schedule: TaskSchedule
    "The JSON Schema of the input, or null when the definition takes no input."
    inputSchema: JSON
    "This node's stats of the definition."
    stats: TaskStatsRow
    "The definition's task locals (values every run of it shares)."
    locals: JSON
  }

  type TaskRunInfo {
    id: ID!
    definitionId: ID!
    name: String!
    "pending, running, success, failed or aborted"
    status: String!
    input: JSON
    output: JSON
    "{ message, code?, data?, stack? }: the stack for operators and admins only"
    error: JSON
    progress: JSON
    iterations: Int!
    attempt: Int!
    "times the run went back to pending for a retry (its retry policy)"
    retries: Int!
    "the run this one retries (retryTask)"
    retryOf: ID
    parentId: ID
    key: String
    context: JSON
    after: ID
    runAt: String
    scheduledFor: String
    backfilled: Boolean
    createdOn: String!
    startedOn: String
    finishedOn: String
    nodeId: String
    "Child runs, newest first."
    children(limit: Int, after: String): TaskRunPage!
  }

  type TaskRunPage {
    items: [TaskRunInfo!]!
    cursor: String
  }

  type TaskLogInfo {
    taskId: ID!
    "info, warn or error"
    type: String!
    message: String!
    data: JSON
    createdOn: String!
  }

  type TaskLogPage {
    items: [TaskLogInfo!]!
    cursor: String
  }

  type TaskStatsRow {
    definitionId: ID!
    status: String!
    queueSize: Int!
    queuePeak: Int!
    evalNum: Int!
    errNum: Int!
    retryNum: Int!
    evalTotalTime: Float!
    evalAvgTime: Float!
    missedTicks: Int!
    lastError: JSON
  }

  type NodeInfo {
    id: ID!
    version: String!
    accept: JSON
    startedOn: String!
    lastSeenOn: String
  }

  type TaskEvent {
    "submitted, started, progress, iteration, retrying, done, failed or aborted"
    type: String!
    run: TaskRunInfo!
    progress: JSON
    "with retrying: the error the run will be retried after"
    error: JSON
  }
`;
