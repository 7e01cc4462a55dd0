import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { DefinitionDetailQuery, RestartMutation, RunsQuery } from '../api/operations';
import type { DefinitionDetail, Viewer } from '../api/types';
import { useInterval, useLoad, useSession } from '../app-context';
import { may } from '../auth/permissions';
import { Id } from '../components/id';
import { ErrorNotice } from '../components/notice';
import { StatusBadge } from '../components/status-badge';
import { Time } from '../components/time';
import { brief, count, duration } from '../format';
import { hrefOf, navigate } from '../router';
import { useAction } from '../use-action';
import { setEnabled } from './definitions';
import { MessageConfirm } from '../components/message-confirm';

const RECENT_RUNS = 10;

/**
 * One definition: its settings, this node's statistics, its task locals (the values every run of it
 * shares), its latest runs, and Trigger, Disable/Enable and Restart for the roles that may use them.
 * Refreshed every 5 s, as the list is.
 */
export function DefinitionPage({ id }: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(async () => {
    const [definition, runs] = await Promise.all([
      client.request(DefinitionDetailQuery, { id }),
      client.request(RunsQuery, { where: { definitionId: id }, limit: RECENT_RUNS }),
    ]);
    return { definition: definition.backgroundTasks.getDefinition, runs: runs.backgroundTasks.listTasks };
  }, [id]);
  useInterval(loaded.reload, 5000);

  if (loaded.error && !loaded.data) return <ErrorNotice error={loaded.error} what="Could not load the definition" />;
  if (!loaded.data)
    return (
      <p class="muted" role="status">
        Loading…
      </p>
    );
  const { definition, runs } = loaded.data;
  if (!definition) {
    return (
      <section>
        <h1>Definition not found</h1>
        <p>
          No definition <code class="id">{id}</code> is visible to you.
        </p>
        <p>
          <a href={hrefOf({ view: 'definitions' })}>Back to the definitions</a>
        </p>
      </section>
    );
  }
  const stats = definition.stats;
  const status = stats?.status ?? definition.status;
  return (
    <section aria-labelledby="definition-title">
      <header class="page-header run-header">
        <p class="crumbs">
          <a href={hrefOf({ view: 'definitions' })}>Definitions</a> /
        </p>
        <div class="run-title-line">
          <h1 id="definition-title">{definition.title}</h1>
          <span aria-live="polite">
            <StatusBadge status={status} />
          </span>
        </div>
        <p class="muted">
          <code class="id">{definition.id}</code>
          {definition.description ? ` — ${definition.description}` : ''}
        </p>
        {definition.faultReason ? <p class="danger-text">{definition.faultReason}</p> : null}
        <DefinitionActions definition={definition} disabled={status === 'disabled'} reload={loaded.reload} />
      </header>
      <ErrorNotice error={loaded.error} what="Could not refresh the definition" />

      <div class="grid">
        <div class="card">
          <h2 class="card-title">Settings</h2>
          <dl class="facts">
            <dt>Concurrency</dt>
            <dd>{definition.concurrency ?? <span class="muted">the pool's</span>}</dd>
            <dt>Max iterations</dt>
            <dd>{count(definition.maxIterations)}</dd>
            <dt>Iteration timeout</dt>
            <dd>{duration(definition.iterationTimeout)}</dd>
            <dt>Max backlog</dt>
            <dd>{definition.maxBacklog === null ? <span class="muted">unlimited</span> : count(definition.maxBacklog)}</dd>
            <dt>Distributable</dt>
            <dd>{definition.distributable ? 'yes' : 'no (runs where it was triggered)'}</dd>
            <dt>Schedule</dt>
            <dd>
              {definition.schedule ? (
                <>
                  <code>{definition.schedule.cron}</code> <span class="muted small">{definition.schedule.timezone ?? 'UTC'}</span>
                </>
              ) : (
                <span class="muted">none</span>
              )}
            </dd>
          </dl>
        </div>
        <div class="card">
          <h2 class="card-title">Statistics of this node</h2>
          {stats ? (
            <dl class="facts">
              <dt>Queue</dt>
              <dd>
                {count(stats.queueSize)} <span class="muted small">(peak {count(stats.queuePeak)})</span>
              </dd>
              <dt>Evaluations</dt>
              <dd>{count(stats.evalNum)}</dd>
              <dt>Errors</dt>
              <dd class={stats.errNum > 0 ? 'danger-text' : undefined}>{count(stats.errNum)}</dd>
              <dt>Retries</dt>
              <dd>{count(stats.retryNum)}</dd>
              <dt>Average time</dt>
              <dd>{stats.evalNum > 0 ? duration(stats.evalAvgTime) : '—'}</dd>
              {definition.schedule ? (
                <>
                  <dt>Missed ticks</dt>
                  <dd>{count(stats.missedTicks)}</dd>
                </>
              ) : null}
              <dt>Last error</dt>
              <dd class={stats.lastError ? 'danger-text' : 'muted'}>{brief(stats.lastError, 300) || 'none'}</dd>
            </dl>
          ) : (
            <p class="muted">none yet</p>
          )}
        </div>
      </div>

      <Locals locals={definition.locals} />

      <div class="card">
        <h2 class="card-title">Latest runs</h2>
        {runs.items.length === 0 ? (
          <p class="muted">none</p>
        ) : (
          <ul class="children" aria-label="Latest runs">
            {runs.items.map((r) => (
              <li key={r.id}>
                <a href={hrefOf({ view: 'run', id: r.id })}>
                  <Id value={r.id} />
                </a>{' '}
                <StatusBadge status={r.status} />{' '}
                <span class="muted small">
                  <Time iso={r.createdOn} />
                </span>
              </li>
            ))}
          </ul>
        )}
        <p>
          <a href={hrefOf({ view: 'runs', definitionId: definition.id })}>All runs of {definition.id}</a>
        </p>
      </div>
    </section>
  );
}

/** The definition's task locals, one line per key, its value as JSON. */
function Locals({ locals }: { locals: unknown }) {
  const entries = locals && typeof locals === 'object' && !Array.isArray(locals) ? Object.entries(locals as Record<string, unknown>) : [];
  return (
    <div class="card" role="region" aria-labelledby="locals-title">
      <h2 class="card-title" id="locals-title">
        Locals
      </h2>
      {entries.length === 0 ? (
        <p class="muted">none: no run of this definition has set a task local</p>
      ) : (
        <dl class="facts locals">
          {entries.map(([key, value]) => (
            <Fragment key={key}>
              <dt>
                <code>{key}</code>
              </dt>
              <dd>
                <code class="local-value">{JSON.stringify(value, null, typeof value === 'object' && value !== null ? 2 : undefined)}</code>
              </dd>
            </Fragment>
          ))}
        </dl>
      )}
    </div>
  );
}

/** Trigger, Disable/Enable and Restart (with a message), each shown only to the roles that may use it. */
function DefinitionActions({ definition, disabled, reload }: { definition: DefinitionDetail; disabled: boolean; reload(): void }) {
  const { client, viewer } = useSession();
  const action = useAction();
  const [confirm, setConfirm] = useState(false);
  const [message, setMessage] = useState('');
  const [done, setDone] = useState<string | null>(null);
  if (!anyAction(viewer)) return null;

  const restart = (): void => {
    setDone(null);
    void action.run(async () => {
      const text = message.trim();
      await client.request(RestartMutation, text ? { id: definition.id, message: text } : { id: definition.id });
      setConfirm(false);
      setMessage('');
      setDone(
        `Restarted: its pending and running runs were aborted${text ? ` (“${text}”)` : ''}, its statistics start again from zero and its locals were cleared.`,
      );
      reload();
    });
  };

  return (
    <div class="run-actions">
      <div class="button-row">
        {may(viewer, 'trigger') ? (
          <button type="button" class="button primary" onClick={() => navigate({ view: 'trigger', definitionId: definition.id })}>
            Trigger
          </button>
        ) : null}
        {may(viewer, disabled ? 'enable' : 'disable') ? (
          <button
            type="button"
            class="button"
            disabled={action.busy}
            onClick={() => {
              setDone(null);
              void action.run(async () => {
                await setEnabled(client, definition.id, disabled);
                reload();
              });
            }}
          >
            {disabled ? 'Enable' : 'Disable'}
          </button>
        ) : null}
        {may(viewer, 'restart') ? (
          <button type="button" class="button danger-outline" aria-expanded={confirm} onClick={() => setConfirm(!confirm)}>
            Restart
          </button>
        ) : null}
      </div>
      {confirm && may(viewer, 'restart') ? (
        <MessageConfirm
          label={`Restart ${definition.id}`}
          explanation="Its pending runs end aborted with this message, its running runs are aborted, its statistics start again from zero and its locals are cleared. Runs triggered afterwards run normally."
          fieldId="restart-message"
          fieldLabel="Restart message"
          placeholder="why it is restarted (optional)"
          message={message}
          onMessage={setMessage}
          confirmText="Confirm restart"
          busy={action.busy}
          onConfirm={restart}
          onCancel={() => setConfirm(false)}
        />
      ) : null}
      {done ? (
        <div class="notice" role="status">
          {done}
        </div>
      ) : null}
      <ErrorNotice error={action.error} what="Refused" />
    </div>
  );
}

function anyAction(viewer: Viewer): boolean {
  return may(viewer, 'trigger') || may(viewer, 'disable') || may(viewer, 'enable') || may(viewer, 'restart');
}
