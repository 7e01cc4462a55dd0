/**
 * Routes live in the hash (`#/runs?status=failed`): the server serves one page at `/` whatever the
 * route, and a reload or a shared link opens the same view. Only ids and filters go there, never the
 * token.
 */
export type Route =
  | { view: 'definitions' }
  | { view: 'definition'; id: string }
  | { view: 'trigger'; definitionId: string }
  | { view: 'runs'; definitionId?: string; status?: string; parentId?: string }
  | { view: 'run'; id: string }
  | { view: 'nodes' };

export function parseRoute(hash: string): Route {
  const [pathPart, queryPart = ''] = hash.replace(/^#/, '').split('?', 2);
  const parts = pathPart
    .split('/')
    .filter(Boolean)
    .map((p) => safeDecode(p));
  const query = new URLSearchParams(queryPart);
  if (parts[0] === 'definitions' && parts.length === 3 && parts[2] === 'trigger') return { view: 'trigger', definitionId: parts[1] };
  if (parts[0] === 'definitions' && parts.length === 2) return { view: 'definition', id: parts[1] };
  if (parts[0] === 'runs' && parts.length === 2) return { view: 'run', id: parts[1] };
  if (parts[0] === 'runs') {
    const route: Route = { view: 'runs' };
    const definitionId = query.get('definition');
    const status = query.get('status');
    const parentId = query.get('parent');
    if (definitionId) route.definitionId = definitionId;
    if (status) route.status = status;
    if (parentId) route.parentId = parentId;
    return route;
  }
  if (parts[0] === 'nodes') return { view: 'nodes' };
  return { view: 'definitions' };
}

export function hrefOf(route: Route): string {
  switch (route.view) {
    case 'definitions':
      return '#/definitions';
    case 'definition':
      return `#/definitions/${encodeURIComponent(route.id)}`;
    case 'trigger':
      return `#/definitions/${encodeURIComponent(route.definitionId)}/trigger`;
    case 'run':
      return `#/runs/${encodeURIComponent(route.id)}`;
    case 'nodes':
      return '#/nodes';
    case 'runs': {
      const query = new URLSearchParams();
      if (route.definitionId) query.set('definition', route.definitionId);
      if (route.status) query.set('status', route.status);
      if (route.parentId) query.set('parent', route.parentId);
      const q = query.toString();
      return q ? `#/runs?${q}` : '#/runs';
    }
  }
}

export function navigate(route: Route): void {
  location.hash = hrefOf(route);
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
