import { NodesQuery } from '../api/operations';
import type { NodeInfo } from '../api/types';
import { useInterval, useLoad, useNow, useSession } from '../app-context';
import { Id } from '../components/id';
import { ErrorNotice } from '../components/notice';
import { Time } from '../components/time';

/** The live nodes: id, version, what they accept, when they started and were last seen (refreshed every 5 s). */
export function Nodes() {
  const { client } = useSession();
  const loaded = useLoad(async () => (await client.request(NodesQuery, {})).backgroundTasks.nodes, []);
  useInterval(loaded.reload, 5000);
  const nodes = loaded.data ?? [];
  return (
    <section aria-labelledby="nodes-title">
      <header class="page-header">
        <h1 id="nodes-title">Nodes</h1>
        <p class="muted">
          {nodes.length} live node{nodes.length === 1 ? '' : 's'}, refreshed every 5 s.
        </p>
      </header>
      <ErrorNotice error={loaded.error} what="Could not load the nodes" />
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Live nodes</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Version</th>
              <th scope="col">Accepts</th>
              <th scope="col">Started</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <NodeRow key={n.id} node={n} />
            ))}
            {nodes.length === 0 && !loaded.loading ? (
              <tr>
                <td colSpan={5} class="empty">
                  No live node.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function NodeRow({ node }: { node: NodeInfo }) {
  const now = useNow();
  const seen = node.lastSeenOn ? Date.parse(node.lastSeenOn) : NaN;
  const stale = Number.isFinite(seen) && now - seen > 30_000;
  return (
    <tr>
      <th scope="row">
        <Id value={node.id} />
      </th>
      <td>{node.version ?? <span class="muted">—</span>}</td>
      <td>{acceptText(node.accept)}</td>
      <td>
        <Time iso={node.startedOn} />
      </td>
      <td class={stale ? 'danger-text' : undefined}>
        <Time iso={node.lastSeenOn} />
        {stale ? ' (late)' : ''}
      </td>
    </tr>
  );
}

/** `accept` is JSON `{ include?, exclude? }` of ids and `prefix.*` patterns. */
function acceptText(accept: unknown) {
  if (!accept || typeof accept !== 'object') return <span>every definition</span>;
  const { include, exclude } = accept as { include?: unknown; exclude?: unknown };
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const inc = list(include);
  const exc = list(exclude);
  if (Array.isArray(include) && inc.length === 0) return <span class="muted">nothing (triggers only)</span>;
  return (
    <span>
      {inc.length > 0
        ? inc.map((p) => (
            <code class="chip" key={`i${p}`}>
              {p}
            </code>
          ))
        : 'every definition'}
      {exc.length > 0 ? (
        <>
          {' '}
          except{' '}
          {exc.map((p) => (
            <code class="chip" key={`e${p}`}>
              {p}
            </code>
          ))}
        </>
      ) : null}
    </span>
  );
}
