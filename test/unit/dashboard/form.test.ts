import { formFromSchema, type JsonSchema, type GroupField } from '../../../dashboard/src/form/field-spec';
import { initialFormDraft, setAt, getAt, type DraftGroup } from '../../../dashboard/src/form/draft';
import { collectInput } from '../../../dashboard/src/form/collect-input';
import { issuesFromServer, placeIssues } from '../../../dashboard/src/form/issues';

/** What class-validator-jsonschema derives from a class with nested classes, enums and arrays. */
const schema: JsonSchema = {
  type: 'object',
  properties: {
    count: { type: 'integer', minimum: 1, maximum: 100, title: 'How many' },
    ratio: { type: 'number', exclusiveMaximum: 1 },
    name: { type: 'string', minLength: 2, maxLength: 5, pattern: '^[a-z]+$' },
    email: { type: 'string', format: 'email' },
    dryRun: { type: 'boolean' },
    mode: { type: 'string', enum: ['fast', 'safe'] },
    address: { $ref: '#/definitions/Address', title: 'Postal address' },
    tags: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 3 },
    lines: { type: 'array', items: { $ref: '#/definitions/Line' } },
    extra: { type: 'object' },
  },
  required: ['count', 'mode', 'address', 'tags'],
  definitions: {
    Address: { type: 'object', properties: { city: { type: 'string', minLength: 1 }, zip: { type: 'string' } }, required: ['city'] },
    Line: { type: 'object', properties: { sku: { type: 'string', minLength: 1 }, qty: { type: 'integer', minimum: 1 } }, required: ['sku', 'qty'] },
  },
};

function form(): GroupField {
  const f = formFromSchema(schema);
  if (!f) throw new Error('no form');
  return f;
}

function fill(draft: DraftGroup, entries: Array<[Array<string | number>, string | boolean]>): DraftGroup {
  let d = draft;
  for (const [path, value] of entries) d = setAt(d, path, value) as DraftGroup;
  return d;
}

describe('dashboard form generated from inputSchema', () => {
  it('picks one control per property type, labels from title else name, follows $ref', () => {
    const f = form();
    const kinds = Object.fromEntries(f.fields.map((x) => [x.name, x.kind]));
    expect(kinds).toEqual({
      count: 'number',
      ratio: 'number',
      name: 'text',
      email: 'text',
      dryRun: 'checkbox',
      mode: 'select',
      address: 'group',
      tags: 'list',
      lines: 'list',
      extra: 'json',
    });
    const count = f.fields[0];
    expect(count).toMatchObject({ label: 'How many', required: true, integer: true, minimum: 1, maximum: 100 });
    expect(f.fields.find((x) => x.name === 'ratio')).toMatchObject({ label: 'ratio', required: false, exclusiveMaximum: 1 });
    const address = f.fields.find((x) => x.name === 'address');
    expect(address).toMatchObject({ kind: 'group', label: 'Postal address' });
    expect(address?.kind === 'group' && address.fields.map((x) => [x.name, x.required])).toEqual([
      ['city', true],
      ['zip', false],
    ]);
    const lines = f.fields.find((x) => x.name === 'lines');
    expect(lines?.kind === 'list' && lines.item.kind).toBe('group');
  });

  it('is null without a schema and survives a self-referencing class', () => {
    expect(formFromSchema(null)).toBeNull();
    const loop: JsonSchema = { $ref: '#/definitions/Node', definitions: { Node: { type: 'object', properties: { next: { $ref: '#/definitions/Node' } } } } };
    const f = formFromSchema(loop);
    let depth = 0;
    let field = f?.fields[0];
    while (field && field.kind === 'group') {
      depth++;
      field = field.fields[0];
    }
    expect(depth).toBeGreaterThan(2);
    expect(field?.kind).toBe('json');
  });

  it('refuses what the schema forbids before sending, under the paths the server uses', () => {
    const f = form();
    const draft = initialFormDraft(f);
    expect(getAt(draft, ['tags'])).toEqual(['']); // minItems 1: one empty item to fill in
    const bad = fill(draft, [
      [['count'], '0'],
      [['ratio'], '1'],
      [['name'], 'ABC'],
      [['email'], 'not-mail'],
      [['tags', 0], ''],
    ]);
    const result = collectInput(f, bad);
    expect(result.ok).toBe(false);
    const issues = result.ok ? [] : result.issues;
    expect(Object.fromEntries(issues.map((i) => [i.path, i.message]))).toEqual({
      count: 'must be at least 1',
      ratio: 'must be less than 1',
      name: 'must match the pattern ^[a-z]+$',
      email: 'must be an email address',
      mode: 'choose one of the options',
      'address.city': 'is required',
      'tags.0': 'is required',
    });
  });

  it('checks numbers as typed: whole numbers, garbage, bounds', () => {
    const f = form();
    const base = fill(initialFormDraft(f), [
      [['mode'], '0'],
      [['address', 'city'], 'Oslo'],
      [['tags', 0], 'a'],
    ]);
    const messageFor = (text: string) => {
      const r = collectInput(f, setAt(base, ['count'], text) as DraftGroup);
      return r.ok ? 'ok' : r.issues.find((i) => i.path === 'count')?.message;
    };
    expect(messageFor('2.5')).toBe('must be a whole number');
    expect(messageFor('12abc')).toBe('must be a number');
    expect(messageFor('0x10')).toBe('must be a number');
    expect(messageFor('101')).toBe('must be at most 100');
    expect(messageFor('')).toBe('is required');
    expect(messageFor(' 7 ')).toBe('ok');
  });

  it('converts a valid draft into typed input, leaving empty optional fields out', () => {
    const f = form();
    let draft = fill(initialFormDraft(f), [
      [['count'], '5'],
      [['mode'], '1'],
      [['dryRun'], true],
      [['address', 'city'], 'Oslo'],
      [['tags', 0], 'x'],
    ]);
    draft = setAt(draft, ['tags', 1], 'y') as DraftGroup;
    draft = setAt(
      draft,
      ['lines'],
      [
        new Map([
          ['sku', 'A-1'],
          ['qty', '3'],
        ]),
      ],
    ) as DraftGroup;
    draft = setAt(draft, ['extra'], '{"k": [1, 2]}') as DraftGroup;
    const result = collectInput(f, draft);
    expect(result).toEqual({
      ok: true,
      input: { count: 5, dryRun: true, mode: 'safe', address: { city: 'Oslo' }, tags: ['x', 'y'], lines: [{ sku: 'A-1', qty: 3 }], extra: { k: [1, 2] } },
    });
  });

  it('counts list items against minItems/maxItems and removes items', () => {
    const f = form();
    let draft = fill(initialFormDraft(f), [
      [['count'], '5'],
      [['mode'], '0'],
      [['address', 'city'], 'Oslo'],
    ]);
    draft = setAt(draft, ['tags'], ['a', 'b', 'c', 'd']) as DraftGroup;
    const over = collectInput(f, draft);
    expect(over.ok ? [] : over.issues).toEqual([{ path: 'tags', message: 'takes at most 3 items' }]);
    draft = setAt(draft, ['tags', 3], undefined) as DraftGroup;
    expect(getAt(draft, ['tags'])).toEqual(['a', 'b', 'c']);
    expect(collectInput(f, draft).ok).toBe(true);
  });

  it('keeps a property named __proto__ a plain key of the input', () => {
    const f = formFromSchema({ type: 'object', properties: { __proto__: { type: 'string' } } as Record<string, JsonSchema> });
    // an object literal's "__proto__:" sets the prototype; build the hostile schema the JSON way
    const hostile = formFromSchema(JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}},"required":["__proto__"]}') as JsonSchema);
    expect(f?.fields).toEqual([]);
    const draft = setAt(initialFormDraft(hostile!), ['__proto__'], 'x') as DraftGroup;
    const result = collectInput(hostile!, draft);
    expect(result.ok).toBe(true);
    const input = result.ok ? result.input : {};
    expect(Object.keys(input)).toEqual(['__proto__']);
    expect(JSON.stringify(input)).toBe('{"__proto__":"x"}');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("places the server's INPUT_INVALID errors beside the fields they name, the rest above the form", () => {
    const f = form();
    let draft = initialFormDraft(f);
    draft = setAt(
      draft,
      ['lines'],
      [
        new Map([
          ['sku', ''],
          ['qty', '0'],
        ]),
      ],
    ) as DraftGroup;
    const issues = issuesFromServer([
      { path: 'count', constraints: { min: 'count must not be less than 1', isInt: 'count must be an integer number' } },
      { path: 'lines.0.qty', constraints: { min: 'qty must not be less than 1' } },
      { path: 'bogus', constraints: { whitelistValidation: 'property bogus should not exist' } },
      { path: '', constraints: { isPlainObject: 'not an object' } },
      'garbage',
      { path: 3, constraints: { x: 'numbers are not paths' } },
    ]);
    const placed = placeIssues(f, draft, issues);
    expect(Object.fromEntries(placed.byPath)).toEqual({
      count: ['count must not be less than 1', 'count must be an integer number'],
      'lines.0.qty': ['qty must not be less than 1'],
    });
    expect(placed.general.map((i) => i.message)).toEqual(['property bogus should not exist', 'not an object', 'numbers are not paths']);
  });
});
