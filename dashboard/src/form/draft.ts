import type { FieldSpec, GroupField } from './field-spec';

/**
 * What a person has typed into a generated form, before it is checked and converted into input.
 * - number, text, JSON fields: the raw text (so "1e" can be shown back and flagged, not lost);
 * - select: the index of the chosen option as text, '' when none is chosen;
 * - checkbox: a boolean;
 * - group: a Map from property name to its draft (property names come from the schema: a Map, so a
 *   property named `__proto__` or `constructor` is just a key);
 * - list: one draft per item.
 */
export type Draft = string | boolean | DraftGroup | DraftList;
export type DraftGroup = ReadonlyMap<string, Draft>;
export type DraftList = readonly Draft[];

/** One step into a draft: a property name in a group, an index in a list. */
export type DraftPath = ReadonlyArray<string | number>;

/** The draft a form starts from: the schema's defaults, required lists filled up to `minItems`. */
export function initialDraft(field: FieldSpec): Draft {
  switch (field.kind) {
    case 'number':
      return typeof field.default === 'number' ? String(field.default) : '';
    case 'text':
      return typeof field.default === 'string' ? field.default : '';
    case 'checkbox':
      return field.default === true;
    case 'select': {
      const index = field.options.findIndex((o) => o === field.default);
      return index >= 0 ? String(index) : '';
    }
    case 'json':
      return field.default === undefined ? '' : JSON.stringify(field.default, null, 2);
    case 'group':
      return new Map(field.fields.map((f) => [f.name, initialDraft(f)] as const));
    case 'list': {
      if (Array.isArray(field.default)) return field.default.map((v) => initialDraft({ ...field.item, default: v }));
      return Array.from({ length: field.minItems ?? 0 }, () => initialDraft(field.item));
    }
  }
}

/** The draft of the root group of a form. */
export function initialFormDraft(form: GroupField): DraftGroup {
  return initialDraft(form) as DraftGroup;
}

/** A copy of `draft` with the value at `path` replaced (`undefined` removes a list item). */
export function setAt(draft: Draft, path: DraftPath, value: Draft | undefined): Draft {
  if (path.length === 0) {
    if (value === undefined) throw new Error('setAt: cannot remove the root of a draft');
    return value;
  }
  const [head, ...rest] = path;
  if (draft instanceof Map && typeof head === 'string') {
    const child = draft.get(head);
    const next = new Map(draft);
    if (rest.length === 0) {
      if (value === undefined) next.delete(head);
      else next.set(head, value);
    } else if (child !== undefined) {
      next.set(head, setAt(child, rest, value));
    }
    return next;
  }
  if (Array.isArray(draft) && typeof head === 'number') {
    const list = draft as DraftList;
    if (rest.length === 0) {
      if (value === undefined) return list.filter((_, i) => i !== head);
      const next = list.slice();
      next[head] = value;
      return next;
    }
    const next = list.slice();
    next[head] = setAt(list[head], rest, value);
    return next;
  }
  throw new Error(`setAt: path ${path.join('.')} does not fit the draft`);
}

/** The draft at `path`, or undefined. */
export function getAt(draft: Draft, path: DraftPath): Draft | undefined {
  let current: Draft | undefined = draft;
  for (const step of path) {
    if (current instanceof Map && typeof step === 'string') current = current.get(step);
    else if (Array.isArray(current) && typeof step === 'number') current = (current as DraftList)[step];
    else return undefined;
  }
  return current;
}

/** The dotted path the server uses in `INPUT_INVALID` errors (`address.city`, `lines.0.sku`). */
export function pathKey(path: DraftPath): string {
  return path.join('.');
}
