import type { GraphQLClient } from '../api/client';
import { DefinitionsQuery, DisableMutation, EnableMutation } from '../api/operations';
import { useInterval, useLoad, useSession } from '../app-context';
import { may } from '../auth/permissions';
import { ErrorNotice } from '../components/notice';
import { StatusBadge } from '../components/status-badge';
import { brief, count, duration } from '../format';
import { hrefOf, navigate } from '../router';
import { useAction } from '../use-action';

/**
 * Disables or enables a definition (operators and admins).
 * @param enabled the state it is to be in
 */
export async function setEnabled(client: GraphQLClient, id: string, enabled: boolean): Promise<void> {
  if (enabled) await client.request(EnableMutation, { id });
  else await client.request(DisableMutation, { id });
}

/** The definitions with their stats (refreshed every 5 s), a Trigger button each, Disable/Enable for operators. */
export function Definitions() {
  const { client, viewer } = useSession();
  const loaded = useLoad(async () => (await client.request(DefinitionsQuery, {})).backgroundTasks, []);
  const action = useAction();
  useInterval(loaded.reload, 5000);

  const definitions = loaded.data?.listDefinitions ?? [];

  return (
    <section aria-labelledby="definitions-title">
      <header class="page-header">
        <h1 id="definitions-title">Definitions</h1>
        <p class="muted">
          {definitions.length} task definition{definitions.length === 1 ? '' : 's'}; statistics of this node, refreshed every 5 s.
        </p>
      </header>
      <ErrorNotice error={loaded.error} what="Could not load the definitions" />
      <ErrorNotice error={action.error} what="The change was refused" />
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Task definitions and their statistics</caption>
          <thead>
            <tr>
              <th scope="col">Definition</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">
                Queue
              </th>
              <th scope="col" class="num">
                Peak
              </th>
              <th scope="col" class="num">
                Evaluations
              </th>
              <th scope="col" class="num">
                Errors
              </th>
              <th scope="col" class="num">
                Avg time
              </th>
              <th scope="col">Last error</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
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
                    <a href={hrefOf({ view: 'definition', id: d.id })} class="definition-id">
                      {d.id}
                    </a>
                    {d.title && d.title !== d.id ? <span class="definition-title">{d.title}</span> : null}
                    {d.faultReason ? <span class="definition-title danger-text">{d.faultReason}</span> : null}
                    {d.schedule ? (
                      <span class="chip" title={`time zone ${d.schedule.timezone ?? 'UTC'}`}>
                        cron {d.schedule.cron}
                      </span>
                    ) : null}
                  </th>
                  <td>
                    <StatusBadge status={status} />
                  </td>
                  <td class="num">{count(s?.queueSize)}</td>
                  <td class="num">{count(s?.queuePeak)}</td>
                  <td class="num">{count(s?.evalNum)}</td>
                  <td class={s && s.errNum > 0 ? 'num danger-text' : 'num'}>{count(s?.errNum)}</td>
                  <td class="num">{s && s.evalNum > 0 ? duration(s.evalAvgTime) : '—'}</td>
                  <td class="last-error" title={brief(s?.lastError, 2000)}>
                    {brief(s?.lastError, 80) || <span class="muted">—</span>}
                  </td>
                  <td class="actions">
                    {may(viewer, 'trigger') ? (
                      <button
                        type="button"
                        class="button primary small"
                        aria-describedby={`def-${d.id}`}
                        onClick={() => navigate({ view: 'trigger', definitionId: d.id })}
                      >
                        Trigger
                      </button>
                    ) : null}
                    {may(viewer, disabled ? 'enable' : 'disable') ? (
                      <button
                        type="button"
                        class="button small"
                        disabled={action.busy}
                        aria-describedby={`def-${d.id}`}
                        onClick={() =>
                          void action.run(async () => {
                            await setEnabled(client, d.id, disabled);
                            loaded.reload();
                          })
                        }
                      >
                        {disabled ? 'Enable' : 'Disable'}
                      </button>
                    ) : null}
                    <span id={`def-${d.id}`} class="sr-only">
                      {d.title ?? d.id}
                    </span>
                  </td>
                </tr>
              );
            })}
            {definitions.length === 0 && !loaded.loading ? (
              <tr>
                <td colSpan={9} class="empty">
                  No task definitions are visible to you.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}
