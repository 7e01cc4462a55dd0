import * as operations from '../../../dashboard/src/api/operations';

/**
 * The dashboard's GraphQL documents: only the trigger form asks for a definition's `inputSchema`
 * (a JSON Schema per definition); the lists, refreshed every few seconds, leave it out.
 */
describe('dashboard GraphQL operations', () => {
  const documents = Object.entries(operations)
    .filter(([, op]) => typeof op === 'object' && op !== null && typeof (op as { query?: unknown }).query === 'string')
    .map(([name, op]) => ({ name, query: (op as { query: string }).query }));

  it('asks for inputSchema in the trigger form query alone', () => {
    expect(documents.length).toBeGreaterThan(10);
    expect(documents.filter((d) => /\binputSchema\b/.test(d.query)).map((d) => d.name)).toEqual(['DefinitionQuery']);
  });

  it('the trigger form query gets it with the definition fields', () => {
    expect(operations.DefinitionQuery.query).toMatch(/getDefinition\(id: \$id\) \{ \.\.\.Definition inputSchema \}/);
  });
});
