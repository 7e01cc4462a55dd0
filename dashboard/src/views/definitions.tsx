import { useState } from 'preact/hooks';
import { type ApiError } from '../api/client';
import { DefinitionsQuery, DisableMutation, EnableMutation } from '../api/operations';
import type { DefinitionInfo } from '../api/types';
import { useInterval, useLoad, useSession } from '../app-context';
import { may } from '../auth/permissions';
import { ErrorNotice } from '../components/notice';
import { StatusBadge } from '../components/status-badge';
import { brief, count, duration } from '../format';
import { hrefOf, navigate } from '../router';

/** The definitions with their stats (refreshed every 5 s), a Trigger button each, Disable/Enable for operators. */
export function Definitions() {
  const { client, viewer } = useSession();
  const loaded = useLoad(async () => (await client.request(DefinitionsQuery, {})).backgroundTasks, []);
  const [actionError, setActionError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState<string | null>(null);
  useInterval(loaded.reload, 5000);

  const definitions = loaded.data?.listDefinitions ?? [];

  const toggle = async (definition: DefinitionInfo, disable: boolean): Promise<void> => {
    setBusy(definition.id);
    setActionError(undefined);
    try {
      if (disable) await client.request(DisableMutation, { id: definition.id });
      else await client.request(EnableMutation, { id: definition.id });
      loaded.reload();
    } catch (err) {
      setActionError(err as ApiError);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section aria-labelledby="definitions-title">
      <header class="page-header">
        <h1 id="definitions-title">Definitions</h1>
        <p class="muted">{definitions.length} task definition{definitions.length === 1 ? '' : 's'}; statistics of this node, refreshed every 5 s.</p>
      </header>
      <ErrorNotice error={loaded.error} what="Could not load the definitions" />
      <ErrorNotice error={actionError} what="The change was refused" />
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Task definitions and their statistics</caption>
          <thead>
            <tr>
              <th scope="col">Definition</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Queue</th>
              <th scope="col" class="num">Peak</th>
              <th scope="col" class="num">Evaluations</th>
              <th scope="col" class="num">Errors</th>
              <th scope="col" class="num">Avg time</th>
              <th scope="col">Last error</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {definitions.map((d) => {
              const s = d.stats;
              const status = s?.status ?? d.status;
              const disabled = status === 'disabled';
              return (
                <tr key={d.id}>
                  <th scope="row" class="definition-cell">
                    <a href={hrefOf({ view: 'runs', definitionId: d.id })} class="definition-id">{d.id}</a>
                    {d.title && d.title !== d.id ? <span class="definition-title">{d.title}</span> : null}
                    {d.faultReason ? <span class="definition-title danger-text">{d.faultReason}</span> : null}
                    {d.schedule ? <span class="chip" title={`time zone ${d.schedule.timezone ?? 'UTC'}`}>cron {d.schedule.cron}</span> : null}
                  </th>
                  <td><StatusBadge status={status} /></td>
                  <td class="num">{count(s?.queueSize)}</td>
                  <td class="num">{count(s?.queuePeak)}</td>
                  <td class="num">{count(s?.evalNum)}</td>
                  <td class={s && s.errNum > 0 ? 'num danger-text' : 'num'}>{count(s?.errNum)}</td>
                  <td class="num">{s && s.evalNum > 0 ? duration(s.evalAvgTime) : '—'}</td>
                  <td class="last-error" title={brief(s?.lastError, 2000)}>{brief(s?.lastError, 80) || <span class="muted">—</span>}</td>
                  <td class="actions">
                    {may(viewer, 'trigger') ? (
                      <button type="button" class="button primary small" aria-describedby={`def-${d.id}`}
                        onClick={() => navigate({ view: 'trigger', definitionId: d.id })}>Trigger</button>
                    ) : null}
                    {may(viewer, disabled ? 'enable' : 'disable') ? (
                      <button type="button" class="button small" disabled={busy === d.id} aria-describedby={`def-${d.id}`}
                        onClick={() => void toggle(d, !disabled)}>{disabled ? 'Enable' : 'Disable'}</button>
                    ) : null}
                    <span id={`def-${d.id}`} class="sr-only">{d.title ?? d.id}</span>
                  </td>
                </tr>
              );
            })}
            {definitions.length === 0 && !loaded.loading ? (
              <tr><td colSpan={9} class="empty">No task definitions are visible to you.</td></tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}
