import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { DefinitionIdsQuery, EventsSubscription, RunsQuery, type RunsWhere } from '../api/operations';
import { RUN_STATUSES, type RunSummary } from '../api/types';
import { useLoad, useNow, useSession } from '../app-context';
import { Id } from '../components/id';
import { ErrorNotice } from '../components/notice';
import { ProgressBar } from '../components/progress-bar';
import { StatusBadge } from '../components/status-badge';
import { Time } from '../components/time';
import { duration, runDuration } from '../format';
import { animationFrames } from '../live/animation-frames';
import { FrameBatcher } from '../live/frame-batcher';
import { applyRunUpdates, mergeRunUpdate, runFromEvent } from '../live/run-updates';
import { hrefOf, navigate } from '../router';

const PAGE_SIZE = 50;

/**
 * Runs, newest first, a page at a time (cursor paging: a deep page costs what the first does, with
 * 100,000 runs stored or more). Rows follow the event stream live; updates are merged per run and
 * applied once per animation frame (FrameBatcher), so 50 runs reporting every 100 ms re-render the
 * table at most once a frame.
 */
export function Runs({ definitionId, status, parentId }: { definitionId?: string; status?: string; parentId?: string }) {
  const { client } = useSession();
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const after = cursors[cursors.length - 1];
  const where: RunsWhere = useMemo(() => {
    const w: RunsWhere = {};
    if (definitionId) w.definitionId = definitionId;
    if (status) w.status = status;
    if (parentId) w.parentId = parentId;
    return w;
  }, [definitionId, status, parentId]);

  useEffect(() => setCursors([undefined]), [definitionId, status, parentId]);

  const page = useLoad(
    async () =>
      (await client.request(RunsQuery, after === undefined ? { where, limit: PAGE_SIZE } : { where, limit: PAGE_SIZE, after })).backgroundTasks.listTasks,
    [where, after],
  );
  const definitions = useLoad(async () => (await client.request(DefinitionIdsQuery, {})).backgroundTasks.listDefinitions, []);
  const [rows, setRows] = useState<RunSummary[]>([]);
  useEffect(() => {
    if (page.data) setRows(page.data.items);
  }, [page.data]);

  // what the frame flush needs to know, without re-subscribing on every page turn
  const view = useRef({ where, firstPage: true });
  view.current = { where, firstPage: after === undefined };

  useEffect(() => {
    const batcher = new FrameBatcher<RunSummary>(
      mergeRunUpdate,
      (batch) => setRows((current) => applyRunUpdates(current, batch, view.current.where, view.current.firstPage, PAGE_SIZE)),
      animationFrames,
    );
    const close = client.subscribe(EventsSubscription, definitionId ? { definitionId } : {}, {
      next: (data) => batcher.push(data.backgroundTaskEvents.run.id, runFromEvent(data.backgroundTaskEvents)),
      reconnected: page.reload, // events were missed while the stream was down
    });
    return () => {
      close();
      batcher.dispose();
    };
  }, [client, definitionId]);

  const setFilter = (patch: { definitionId?: string; status?: string }): void => {
    const next = { definitionId, status, parentId, ...patch };
    navigate({
      view: 'runs',
      ...(next.definitionId ? { definitionId: next.definitionId } : {}),
      ...(next.status ? { status: next.status } : {}),
      ...(next.parentId ? { parentId: next.parentId } : {}),
    });
  };

  return (
    <section aria-labelledby="runs-title">
      <header class="page-header">
        <h1 id="runs-title">Runs</h1>
        <p class="muted">Newest first; rows update live.</p>
      </header>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        <label class="field inline" for="filter-definition">
          <span class="field-label">Definition</span>
          <select
            id="filter-definition"
            class="input"
            value={definitionId ?? ''}
            onChange={(e) => setFilter({ definitionId: (e.currentTarget as HTMLSelectElement).value || undefined })}
          >
            <option value="">All definitions</option>
            {(definitions.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.id}
              </option>
            ))}
            {definitionId && !(definitions.data ?? []).some((d) => d.id === definitionId) ? <option value={definitionId}>{definitionId}</option> : null}
          </select>
        </label>
        <label class="field inline" for="filter-status">
          <span class="field-label">Status</span>
          <select
            id="filter-status"
            class="input"
            value={status ?? ''}
            onChange={(e) => setFilter({ status: (e.currentTarget as HTMLSelectElement).value || undefined })}
          >
            <option value="">All statuses</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {parentId ? (
          <p class="filter-chip">
            Children of{' '}
            <a href={hrefOf({ view: 'run', id: parentId })}>
              <Id value={parentId} />
            </a>{' '}
            <a href={hrefOf({ view: 'runs', ...(definitionId ? { definitionId } : {}), ...(status ? { status } : {}) })}>show all runs</a>
          </p>
        ) : null}
      </form>
      <ErrorNotice error={page.error} what="Could not load the runs" />
      <div class="table-wrap">
        <table class="table runs-table" aria-busy={page.loading}>
          <caption class="sr-only">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Definition</th>
              <th scope="col">Status</th>
              <th scope="col" class="progress-col">
                Progress
              </th>
              <th scope="col" class="num">
                Iteration
              </th>
              <th scope="col">Created</th>
              <th scope="col" class="num">
                Duration
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((run) => (
              <RunRow key={run.id} run={run} />
            ))}
            {rows.length === 0 && !page.loading ? (
              <tr>
                <td colSpan={7} class="empty">
                  No runs match these filters.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages of runs">
        <button type="button" class="button small" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button
          type="button"
          class="button small"
          disabled={!page.data?.cursor}
          onClick={() => {
            const next = page.data?.cursor;
            if (next) setCursors((c) => [...c, next]);
          }}
        >
          Older
        </button>
      </nav>
    </section>
  );
}

function RunRow({ run }: { run: RunSummary }) {
  const now = useNow();
  const label = run.name && run.name !== run.definitionId ? run.name : run.id;
  return (
    <tr>
      <th scope="row">
        <a href={hrefOf({ view: 'run', id: run.id })} class="run-link">
          <Id value={run.id} />
        </a>
        {run.name && run.name !== run.definitionId ? <span class="run-name">{run.name}</span> : null}
      </th>
      <td>
        <a href={hrefOf({ view: 'runs', definitionId: run.definitionId })} class="definition-id">
          {run.definitionId}
        </a>
      </td>
      <td>
        <StatusBadge status={run.status} />
        {run.retries > 0 ? <span class="run-name">{run.retries === 1 ? '1 retry' : `${run.retries} retries`}</span> : null}
      </td>
      <td class="progress-col">
        {run.status === 'running' || run.progress ? (
          <ProgressBar progress={run.progress} status={run.status} label={`Progress of ${label}`} />
        ) : (
          <span class="muted">—</span>
        )}
      </td>
      <td class="num">{run.iterations}</td>
      <td>
        <Time iso={run.createdOn} />
      </td>
      <td class="num">{duration(runDuration(run.startedOn, run.finishedOn, now))}</td>
    </tr>
  );
}
