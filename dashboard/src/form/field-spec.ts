/**
 * Turns a definition's `inputSchema` (the JSON Schema that class-validator-jsonschema derives from
 * its input class) into a tree of form fields: one control per property, chosen by type.
 *
 * Only what class-validator-jsonschema produces is interpreted: `type`, `enum`, `required`,
 * `properties`, `items`, `$ref` into `definitions`/`$defs`, a single-entry `allOf` or `anyOf`
 * wrapper, bounds, lengths, `pattern`, `format`, `title`, `description`, `default`. A shape outside
 * that (a free-form object, a union) becomes a JSON text area, so nothing in the schema is ever
 * unreachable from the form.
 */

/** The part of JSON Schema this module reads. Everything is optional: schemas are untrusted data. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  $ref?: string;
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  definitions?: Record<string, JsonSchema>;
  $defs?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
}

interface FieldBase {
  /** the property name ('' for a list item: its index is its name) */
  name: string;
  /** what the control is labelled with: the schema's `title`, else the property name */
  label: string;
  description?: string;
  required: boolean;
  default?: unknown;
}

export interface NumberField extends FieldBase {
  kind: 'number';
  integer: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
}

export interface TextField extends FieldBase {
  kind: 'text';
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

export interface CheckboxField extends FieldBase {
  kind: 'checkbox';
}

export interface SelectField extends FieldBase {
  kind: 'select';
  options: ReadonlyArray<string | number | boolean>;
}

export interface GroupField extends FieldBase {
  kind: 'group';
  fields: FieldSpec[];
}

export interface ListField extends FieldBase {
  kind: 'list';
  item: FieldSpec;
  minItems?: number;
  maxItems?: number;
}

/** Anything the form cannot render as a typed control: edited as JSON text. */
export interface JsonField extends FieldBase {
  kind: 'json';
}

export type FieldSpec = NumberField | TextField | CheckboxField | SelectField | GroupField | ListField | JsonField;

/** How deep `$ref`s are followed: a self-referencing class would otherwise nest forever. */
const MAX_DEPTH = 8;

/**
 * The root group of a definition's form, or `null` when the definition takes no input.
 * The root is always a group: task input is a JSON object (API.md section 4).
 */
export function formFromSchema(schema: JsonSchema | null | undefined): GroupField | null {
  if (!schema || typeof schema !== 'object') return null;
  const root = fieldFromSchema(schema, schema, '', true, 0);
  if (root.kind === 'group') return root;
  return { kind: 'group', name: '', label: root.label, required: true, fields: [] };
}

function fieldFromSchema(root: JsonSchema, raw: JsonSchema, name: string, required: boolean, depth: number): FieldSpec {
  const schema = resolve(root, raw, depth);
  const base: FieldBase = { name, label: labelOf(raw, schema, name), required };
  const description = raw.description ?? schema.description;
  if (description !== undefined) base.description = description;
  const dflt = raw.default !== undefined ? raw.default : schema.default;
  if (dflt !== undefined) base.default = dflt;

  if (depth > MAX_DEPTH) return { ...base, kind: 'json' };
  const enumValues = enumOf(schema);
  if (enumValues) return { ...base, kind: 'select', options: enumValues };

  switch (typeOf(schema)) {
    case 'integer':
    case 'number': {
      const f: NumberField = { ...base, kind: 'number', integer: typeOf(schema) === 'integer' };
      if (isNum(schema.minimum)) {
        if (schema.exclusiveMinimum === true) f.exclusiveMinimum = schema.minimum;
        else f.minimum = schema.minimum;
      }
      if (isNum(schema.maximum)) {
        if (schema.exclusiveMaximum === true) f.exclusiveMaximum = schema.maximum;
        else f.maximum = schema.maximum;
      }
      if (isNum(schema.exclusiveMinimum)) f.exclusiveMinimum = schema.exclusiveMinimum;
      if (isNum(schema.exclusiveMaximum)) f.exclusiveMaximum = schema.exclusiveMaximum;
      if (isNum(schema.multipleOf) && schema.multipleOf > 0) f.multipleOf = schema.multipleOf;
      return f;
    }
    case 'string': {
      const f: TextField = { ...base, kind: 'text' };
      if (isNum(schema.minLength)) f.minLength = schema.minLength;
      if (isNum(schema.maxLength)) f.maxLength = schema.maxLength;
      if (typeof schema.pattern === 'string') f.pattern = schema.pattern;
      if (typeof schema.format === 'string') f.format = schema.format;
      return f;
    }
    case 'boolean':
      return { ...base, kind: 'checkbox' };
    case 'array': {
      const items = Array.isArray(schema.items) ? undefined : schema.items;
      if (!items) return { ...base, kind: 'json' };
      const f: ListField = { ...base, kind: 'list', item: fieldFromSchema(root, items, '', true, depth + 1) };
      if (isNum(schema.minItems)) f.minItems = schema.minItems;
      if (isNum(schema.maxItems)) f.maxItems = schema.maxItems;
      return f;
    }
    case 'object': {
      if (!schema.properties) return { ...base, kind: 'json' };
      const requiredNames = new Set(Array.isArray(schema.required) ? schema.required : []);
      const fields = Object.keys(schema.properties).map((key) => fieldFromSchema(root, schema.properties![key], key, requiredNames.has(key), depth + 1));
      return { ...base, kind: 'group', fields };
    }
    default:
      return { ...base, kind: 'json' };
  }
}

/** Follows `$ref` and unwraps a lone `allOf`/`anyOf`/`oneOf` entry (how class-validator-jsonschema nests classes). */
function resolve(root: JsonSchema, schema: JsonSchema, depth: number): JsonSchema {
  let current = schema;
  for (let hops = 0; hops < MAX_DEPTH + depth; hops++) {
    if (typeof current.$ref === 'string') {
      const target = lookupRef(root, current.$ref);
      if (!target) return {};
      const { $ref: _ignored, ...rest } = current;
      current = { ...target, ...rest };
      continue;
    }
    const wrapper = [current.allOf, current.anyOf, current.oneOf].find((list) => Array.isArray(list) && list.length === 1);
    if (wrapper && current.type === undefined && current.properties === undefined) {
      const { allOf: _a, anyOf: _b, oneOf: _c, ...rest } = current;
      current = { ...wrapper[0], ...rest };
      continue;
    }
    return current;
  }
  return current;
}

function lookupRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (ref === '#') return root;
  const match = /^#\/(definitions|\$defs)\/(.+)$/.exec(ref);
  if (!match) return undefined;
  const table = match[1] === '$defs' ? root.$defs : root.definitions;
  const key = decodeURIComponent(match[2]).replace(/~1/g, '/').replace(/~0/g, '~');
  return table && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

function typeOf(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null');
  if (schema.type !== undefined) return schema.type;
  if (schema.properties) return 'object';
  if (schema.items) return 'array';
  return undefined;
}

function enumOf(schema: JsonSchema): Array<string | number | boolean> | undefined {
  const values = Array.isArray(schema.enum) ? schema.enum : schema.const !== undefined ? [schema.const] : undefined;
  if (!values || values.length === 0) return undefined;
  const scalars = values.filter((v): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v));
  return scalars.length === values.length ? scalars : undefined;
}

function labelOf(raw: JsonSchema, resolved: JsonSchema, name: string): string {
  // a property's own title wins over the title of the class it refers to
  const title = raw.title ?? (name === '' ? resolved.title : undefined);
  if (typeof title === 'string' && title.trim() !== '') return title;
  return name;
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
