import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/client';
import { AbortMutation, DeleteMutation, EventsSubscription, LogsQuery, RetryMutation, RunQuery } from '../api/operations';
import { FINISHED, type LogEntry, readRunError, type RunDetail, type Viewer } from '../api/types';
import { useInterval, useLoad, useNow, useSession } from '../app-context';
import { may } from '../auth/permissions';
import { Id } from '../components/id';
import { JsonView } from '../components/json-view';
import { ErrorNotice } from '../components/notice';
import { ProgressBar } from '../components/progress-bar';
import { StatusBadge } from '../components/status-badge';
import { Time } from '../components/time';
import { absoluteTime, duration, runDuration } from '../format';
import { runFromEvent } from '../live/run-updates';
import { hrefOf, navigate } from '../router';
import { useAction } from '../use-action';
import { MessageConfirm } from '../components/message-confirm';

const CHILD_LIMIT = 50;
const LOG_PAGE = 200;

/** One run, whole: status, timings, input, output, error, children, live logs, and what the role may do. */
export function RunPage({ id }: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(async () => (await client.request(RunQuery, { id, childLimit: CHILD_LIMIT })).backgroundTasks.getTask, [id]);
  const [run, setRun] = useState<RunDetail | null | undefined>(undefined);
  useEffect(() => setRun(loaded.data), [loaded.data]);

  const finished = run ? FINISHED.has(run.status) : false;

  // live: the run's own events (a subscription by taskId ends after the run's final event)
  useEffect(() => {
    if (!run || finished) return;
    const close = client.subscribe(
      EventsSubscription,
      { taskId: id },
      {
        next: (data) => {
          const event = data.backgroundTaskEvents;
          const update = runFromEvent(event);
          // a run that succeeded has no error: the one shown before its retry goes at once, not when
          // the reload below answers (the page would say "Error" over a success meanwhile)
          const cleared = event.type === 'done' ? { error: null } : {};
          setRun((current) => (current ? { ...current, ...update, ...cleared, progress: update.progress ?? current.progress } : current));
          // output, error and children are not in the event's selection: read them once the run ends,
          // and when it goes back to pending for a retry (its error, when the retry is due)
          if (event.type === 'done' || event.type === 'failed' || event.type === 'aborted' || event.type === 'retrying') loaded.reload();
        },
        reconnected: loaded.reload,
        complete: loaded.reload,
      },
    );
    return close;
  }, [client, id, run?.id, finished]);

  if (loaded.error && !run) return <ErrorNotice error={loaded.error} what="Could not load the run" />;
  if (run === undefined)
    return (
      <p class="muted" role="status">
        Loading…
      </p>
    );
  if (run === null) {
    return (
      <section>
        <h1>Run not found</h1>
        <p>
          No run <code class="id">{id}</code> is visible to you. It may have been deleted.
        </p>
        <p>
          <a href={hrefOf({ view: 'runs' })}>Back to the runs</a>
        </p>
      </section>
    );
  }
  return <RunDetails run={run} reload={loaded.reload} />;
}

function RunDetails({ run, reload }: { run: RunDetail; reload(): void }) {
  const { viewer } = useSession();
  const now = useNow();
  const finished = FINISHED.has(run.status);
  const error = readRunError(run.error);
  // failed, and back to pending until its retry is due: the error is the last one, not the end
  const retrying = run.status === 'pending' && run.retries > 0 && Boolean(run.runAt);
  return (
    <section aria-labelledby="run-title">
      <header class="page-header run-header">
        <p class="crumbs">
          <a href={hrefOf({ view: 'runs' })}>Runs</a> / <a href={hrefOf({ view: 'runs', definitionId: run.definitionId })}>{run.definitionId}</a> /
        </p>
        <div class="run-title-line">
          <h1 id="run-title">
            Run <Id value={run.id} />
          </h1>
          <span id="run-status" aria-live="polite">
            <StatusBadge status={run.status} />
          </span>
        </div>
        {run.name && run.name !== run.definitionId ? <p class="muted">{run.name}</p> : null}
        <RunActions run={run} reload={reload} viewer={viewer} />
      </header>

      {run.status === 'running' || run.progress ? (
        <div class="card">
          <h2 class="card-title">Progress</h2>
          <ProgressBar progress={run.progress} status={run.status} label={`Progress of run ${run.id}`} />
        </div>
      ) : null}

      <div class="grid">
        <div class="card">
          <h2 class="card-title">Status</h2>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={run.status} />
            </dd>
            <dt>Definition</dt>
            <dd>
              <a href={hrefOf({ view: 'runs', definitionId: run.definitionId })} class="definition-id">
                {run.definitionId}
              </a>
            </dd>
            <dt>Iterations</dt>
            <dd>{run.iterations}</dd>
            <dt>Attempts</dt>
            <dd>{run.attempt}</dd>
            <dt>Retries</dt>
            <dd>
              {run.retries}
              {retrying ? (
                <span class="muted small">
                  {' '}
                  (the next attempt is due <Time iso={run.runAt} />)
                </span>
              ) : null}
            </dd>
            {run.retryOf ? (
              <>
                <dt>Retry of</dt>
                <dd>
                  <a href={hrefOf({ view: 'run', id: run.retryOf })} aria-label={`Retry of run ${run.retryOf}`}>
                    <Id value={run.retryOf} />
                  </a>
                </dd>
              </>
            ) : null}
            <dt>Parent</dt>
            <dd>
              {run.parentId ? (
                <a href={hrefOf({ view: 'run', id: run.parentId })}>
                  <Id value={run.parentId} />
                </a>
              ) : (
                <span class="muted">none</span>
              )}
            </dd>
            {run.after ? (
              <>
                <dt>Waits for</dt>
                <dd>
                  <a href={hrefOf({ view: 'run', id: run.after })}>
                    <Id value={run.after} />
                  </a>
                </dd>
              </>
            ) : null}
            {run.key ? (
              <>
                <dt>Key</dt>
                <dd>
                  <code>{run.key}</code>
                </dd>
              </>
            ) : null}
            <dt>Node</dt>
            <dd>{run.nodeId ? <Id value={run.nodeId} /> : <span class="muted">—</span>}</dd>
          </dl>
        </div>
        <div class="card">
          <h2 class="card-title">Timings</h2>
          <dl class="facts">
            <dt>Created</dt>
            <dd>
              <Time iso={run.createdOn} /> <span class="muted small">{absoluteTime(run.createdOn)}</span>
            </dd>
            {run.runAt && run.status === 'pending' ? (
              <>
                <dt>Due</dt>
                <dd>
                  <Time iso={run.runAt} /> <span class="muted small">{absoluteTime(run.runAt)}</span>
                </dd>
              </>
            ) : null}
            <dt>Started</dt>
            <dd>
              <Time iso={run.startedOn} /> <span class="muted small">{absoluteTime(run.startedOn)}</span>
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time iso={run.finishedOn} /> <span class="muted small">{absoluteTime(run.finishedOn)}</span>
            </dd>
            <dt>Duration</dt>
            <dd>
              {run.status === 'pending' ? (
                <span class="muted">{retrying ? 'waiting for its retry' : 'not started'}</span>
              ) : (
                `${duration(runDuration(run.startedOn, run.finishedOn, now))}${finished ? '' : ' so far'}`
              )}
            </dd>
          </dl>
        </div>
      </div>

      {error ? (
        <div class={run.status === 'aborted' || !finished ? 'card card-warn' : 'card card-danger'}>
          <h2 class="card-title">{run.status === 'aborted' ? 'Abort' : finished ? 'Error' : `Last error, before retry ${run.retries}`}</h2>
          <p class="error-message">
            {error.code ? <code class="code">{error.code}</code> : null} {error.message}
          </p>
          {error.stack ? (
            <details>
              <summary>Stack trace</summary>
              <pre class="json" aria-label="Stack trace">
                {error.stack}
              </pre>
            </details>
          ) : null}
          {error.data !== undefined ? <JsonView value={error.data} label="Error data" /> : null}
        </div>
      ) : null}

      <div class="grid">
        <div class="card">
          <h2 class="card-title">Input</h2>
          <JsonView value={run.input} label="Input" />
        </div>
        <div class="card">
          <h2 class="card-title">Output</h2>
          {finished || run.output != null ? <JsonView value={run.output} label="Output" /> : <p class="muted">not yet</p>}
        </div>
      </div>
      {run.context ? (
        <div class="card">
          <h2 class="card-title">Context</h2>
          <JsonView value={run.context} label="Context" />
        </div>
      ) : null}

      <div class="card">
        <h2 class="card-title">Children</h2>
        {run.children.items.length === 0 ? (
          <p class="muted">none</p>
        ) : (
          <ul class="children">
            {run.children.items.map((c) => (
              <li key={c.id}>
                <a href={hrefOf({ view: 'run', id: c.id })}>
                  <Id value={c.id} />
                </a>{' '}
                <span class="definition-id">{c.definitionId}</span> <StatusBadge status={c.status} />
              </li>
            ))}
          </ul>
        )}
        {run.children.cursor ? (
          <p>
            <a href={hrefOf({ view: 'runs', parentId: run.id })}>All children in the runs view</a>
          </p>
        ) : null}
      </div>

      <Logs runId={run.id} live={!finished} />
    </section>
  );
}

/** Abort (with a message), Retry and Delete, each shown only to the roles that may use it. */
function RunActions({ run, reload, viewer }: { run: RunDetail; reload(): void; viewer: Viewer }) {
  const { client } = useSession();
  const [confirm, setConfirm] = useState<'abort' | 'delete' | null>(null);
  const [message, setMessage] = useState('');
  const { busy, error, run: act } = useAction();
  const finished = FINISHED.has(run.status);

  const abort = (): void => {
    void act(async () => {
      await client.request(AbortMutation, message.trim() ? { id: run.id, message: message.trim() } : { id: run.id });
      setConfirm(null);
      setMessage('');
      reload();
    });
  };

  const canAbort = may(viewer, 'abort') && !finished;
  const canRetry = may(viewer, 'retry') && finished;
  const canDelete = may(viewer, 'delete') && finished;
  if (!canAbort && !canRetry && !canDelete) return null;

  return (
    <div class="run-actions">
      <div class="button-row">
        {canAbort ? (
          <button type="button" class="button danger" aria-expanded={confirm === 'abort'} onClick={() => setConfirm(confirm === 'abort' ? null : 'abort')}>
            Abort
          </button>
        ) : null}
        {canRetry ? (
          <button
            type="button"
            class="button"
            disabled={busy}
            onClick={() =>
              void act(async () => {
                const answer = await client.request(RetryMutation, { id: run.id });
                navigate({ view: 'run', id: answer.backgroundTasks.retryTask.id });
              })
            }
          >
            Retry
          </button>
        ) : null}
        {canDelete ? (
          <button
            type="button"
            class="button danger-outline"
            aria-expanded={confirm === 'delete'}
            onClick={() => setConfirm(confirm === 'delete' ? null : 'delete')}
          >
            Delete
          </button>
        ) : null}
      </div>
      {confirm === 'abort' && canAbort ? (
        <MessageConfirm
          label="Abort this run"
          fieldId="abort-message"
          fieldLabel="Abort message"
          placeholder="why it is aborted (optional)"
          message={message}
          onMessage={setMessage}
          confirmText="Confirm abort"
          busy={busy}
          onConfirm={abort}
          onCancel={() => setConfirm(null)}
        />
      ) : null}
      {confirm === 'delete' && canDelete ? (
        <div class="confirm" role="group" aria-label="Delete this run">
          <p>Delete this run with its logs and stored values? This cannot be undone.</p>
          <div class="button-row">
            <button
              type="button"
              class="button danger"
              disabled={busy}
              onClick={() =>
                void act(async () => {
                  await client.request(DeleteMutation, { id: run.id });
                  navigate({ view: 'runs', definitionId: run.definitionId });
                })
              }
            >
              Confirm delete
            </button>
            <button type="button" class="button ghost" onClick={() => setConfirm(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      <ErrorNotice error={error} what="Refused" />
    </div>
  );
}

/**
 * The run's logs, oldest first, following while the run is unfinished. Log lines have no event of
 * their own: they are read again every second from the last full page's cursor (a storage cursor
 * exists only after a full page), so each read costs at most one page however long the log is.
 */
function Logs({ runId, live }: { runId: string; live: boolean }) {
  const { client } = useSession();
  const [done, setDone] = useState<LogEntry[]>([]); // lines before `base`, read for good
  const [tail, setTail] = useState<LogEntry[]>([]); // lines from `base` on, read again while live
  const [error, setError] = useState<ApiError | undefined>();
  const base = useRef<string | undefined>(undefined);
  const reading = useRef(false);

  const read = async (): Promise<void> => {
    if (reading.current) return;
    reading.current = true;
    try {
      let cursor = base.current;
      let collected: LogEntry[] = [];
      for (;;) {
        const page = (
          await client.request(LogsQuery, cursor === undefined ? { taskId: runId, limit: LOG_PAGE } : { taskId: runId, limit: LOG_PAGE, after: cursor })
        ).backgroundTasks.listLogs;
        collected = collected.concat(page.items);
        if (!page.cursor) break;
        // a full page: everything up to its cursor is final
        const final = collected;
        setDone((d) => d.concat(final));
        collected = [];
        cursor = page.cursor;
        base.current = cursor;
      }
      setTail(collected);
      setError(undefined);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      reading.current = false;
    }
  };

  useEffect(() => {
    base.current = undefined;
    setDone([]);
    setTail([]);
    void read();
  }, [runId]);
  // one last read when the run ends, for the lines written at its end
  useEffect(() => {
    if (!live) void read();
  }, [live]);
  useInterval(() => void read(), live ? 1000 : null);

  const lines = done.concat(tail);
  return (
    <div class="card">
      <h2 class="card-title">Logs {live ? <span class="live-dot" aria-label="following live" /> : null}</h2>
      <ErrorNotice error={error} what="Could not read the logs" />
      {lines.length === 0 ? (
        <p class="muted">No log lines{live ? ' yet' : ''}.</p>
      ) : (
        <ol class="logs" aria-label="Log lines" aria-live={live ? 'polite' : 'off'}>
          {lines.map((l, i) => (
            <li key={i} class={`log log-${/^[a-z]+$/.test(l.type) ? l.type : 'info'}`}>
              <time dateTime={l.createdOn} class="log-time">
                {absoluteTime(l.createdOn).slice(11, 19)}
              </time>
              <span class="log-type">{l.type}</span>
              <span class="log-message">{l.message}</span>
              {l.data !== null && l.data !== undefined ? <code class="log-data">{JSON.stringify(l.data)}</code> : null}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
