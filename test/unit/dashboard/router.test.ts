import { hrefOf, parseRoute, type Route } from '../../../dashboard/src/router';

describe('dashboard routes (in the hash)', () => {
  const routes: Route[] = [
    { view: 'definitions' },
    { view: 'definition', id: 'demo.sync' },
    { view: 'trigger', definitionId: 'demo.import' },
    { view: 'runs' },
    { view: 'runs', definitionId: 'demo.import', status: 'failed', parentId: '01abc' },
    { view: 'run', id: '01m8ttg8rg9bbdehtf00000000' },
    { view: 'nodes' },
  ];

  test.each(routes)('%j reads back from its href', (route) => {
    expect(parseRoute(hrefOf(route))).toEqual(route);
  });

  test('ids with URL characters survive the round trip', () => {
    const route: Route = { view: 'definition', id: 'reports/daily #1?' };
    expect(hrefOf(route)).toBe('#/definitions/reports%2Fdaily%20%231%3F');
    expect(parseRoute(hrefOf(route))).toEqual(route);
  });

  test('a definition page and its trigger form are different routes', () => {
    expect(parseRoute('#/definitions/demo.sync')).toEqual({ view: 'definition', id: 'demo.sync' });
    expect(parseRoute('#/definitions/demo.sync/trigger')).toEqual({ view: 'trigger', definitionId: 'demo.sync' });
    expect(parseRoute('#/definitions')).toEqual({ view: 'definitions' });
  });

  test('anything unknown opens the definitions', () => {
    for (const hash of ['', '#', '#/', '#/nope', '#/definitions/a/b/c']) expect(parseRoute(hash)).toEqual({ view: 'definitions' });
  });
});
