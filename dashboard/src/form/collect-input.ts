import type { FieldSpec, GroupField, NumberField, TextField } from './field-spec';
import { type Draft, type DraftGroup, type DraftList, type DraftPath, pathKey } from './draft';

/** A problem with one field, under the dotted path the server would name (`lines.0.sku`). */
export interface FieldIssue {
  path: string;
  message: string;
}

export type Collected = { ok: true; input: Record<string, unknown> } | { ok: false; issues: FieldIssue[] };

/**
 * Checks a form's draft against what the schema says and turns it into the input to send.
 * Empty optional fields are left out of the input; a required field left empty is an issue.
 * The server checks again (class-validator is the authority): this only spares a round trip and
 * shows the problem beside the field at once.
 */
export function collectInput(form: GroupField, draft: DraftGroup): Collected {
  const issues: FieldIssue[] = [];
  const value = collect(form, draft, [], issues);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, input: (value as Record<string, unknown> | undefined) ?? {} };
}

const NOTHING = undefined;

function collect(field: FieldSpec, draft: Draft | undefined, path: DraftPath, issues: FieldIssue[]): unknown {
  const issue = (message: string): undefined => {
    issues.push({ path: pathKey(path), message });
    return NOTHING;
  };
  switch (field.kind) {
    case 'number': {
      const text = typeof draft === 'string' ? draft.trim() : '';
      if (text === '') return field.required ? issue('is required') : NOTHING;
      return checkNumber(field, text, issue);
    }
    case 'text': {
      const text = typeof draft === 'string' ? draft : '';
      if (text === '' && !field.required) return NOTHING;
      return checkText(field, text, issue);
    }
    case 'checkbox':
      return draft === true;
    case 'select': {
      const index = typeof draft === 'string' && draft !== '' ? Number(draft) : -1;
      if (index < 0 || index >= field.options.length) return field.required ? issue('choose one of the options') : NOTHING;
      return field.options[index];
    }
    case 'json': {
      const text = typeof draft === 'string' ? draft.trim() : '';
      if (text === '') return field.required ? issue('is required') : NOTHING;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return issue('is not valid JSON');
      }
    }
    case 'group': {
      const group: DraftGroup = draft instanceof Map ? draft : new Map();
      // an optional nested object nobody filled in is left out rather than sent half-empty
      if (!field.required && path.length > 0 && isBlank(group)) return NOTHING;
      // null prototype: property names come from the schema, `__proto__` must stay a plain key
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const child of field.fields) {
        const v = collect(child, group.get(child.name), [...path, child.name], issues);
        if (v !== NOTHING) out[child.name] = v;
      }
      return out;
    }
    case 'list': {
      const items: DraftList = Array.isArray(draft) ? (draft as DraftList) : [];
      if (items.length === 0 && !field.required && field.minItems === undefined) return NOTHING;
      if (field.minItems !== undefined && items.length < field.minItems) issue(`needs at least ${field.minItems} item${field.minItems === 1 ? '' : 's'}`);
      if (field.maxItems !== undefined && items.length > field.maxItems) issue(`takes at most ${field.maxItems} item${field.maxItems === 1 ? '' : 's'}`);
      return items.map((item, i) => collect(field.item, item, [...path, i], issues));
    }
  }
}

/** JSON numbers as a person types them: no hex, no `Infinity`, no trailing garbage. */
const NUMBER_TEXT = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function checkNumber(field: NumberField, text: string, issue: (m: string) => undefined): number | undefined {
  if (!NUMBER_TEXT.test(text)) return issue('must be a number');
  const n = Number(text);
  if (!Number.isFinite(n)) return issue('must be a finite number');
  if (field.integer && !Number.isInteger(n)) return issue('must be a whole number');
  if (field.minimum !== undefined && n < field.minimum) return issue(`must be at least ${field.minimum}`);
  if (field.maximum !== undefined && n > field.maximum) return issue(`must be at most ${field.maximum}`);
  if (field.exclusiveMinimum !== undefined && n <= field.exclusiveMinimum) return issue(`must be greater than ${field.exclusiveMinimum}`);
  if (field.exclusiveMaximum !== undefined && n >= field.exclusiveMaximum) return issue(`must be less than ${field.exclusiveMaximum}`);
  if (field.multipleOf !== undefined) {
    const q = n / field.multipleOf;
    if (Math.abs(q - Math.round(q)) > 1e-9) return issue(`must be a multiple of ${field.multipleOf}`);
  }
  return n;
}

/** Simple shape checks for the formats class-validator-jsonschema emits; the server has the last word. */
const FORMATS: Record<string, { test(s: string): boolean; what: string }> = {
  email: { test: (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s), what: 'an email address' },
  'date-time': { test: (s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), what: 'a date and time (ISO 8601)' },
  date: { test: (s) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s)), what: 'a date (YYYY-MM-DD)' },
  uri: {
    test: (s) => {
      try {
        return new URL(s).protocol.length > 0;
      } catch {
        return false;
      }
    },
    what: 'a URL',
  },
  uuid: { test: (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s), what: 'a UUID' },
};

function checkText(field: TextField, text: string, issue: (m: string) => undefined): string | undefined {
  const length = [...text].length; // code points, as class-validator's length checks count them
  if (field.minLength !== undefined && length < field.minLength) {
    return issue(field.minLength === 1 ? 'is required' : `must be at least ${field.minLength} characters`);
  }
  if (field.maxLength !== undefined && length > field.maxLength) return issue(`must be at most ${field.maxLength} characters`);
  if (field.pattern !== undefined) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(field.pattern, 'u');
    } catch {
      re = undefined; // a pattern this browser cannot compile is left to the server
    }
    if (re && !re.test(text)) return issue(`must match the pattern ${field.pattern}`);
  }
  const format = field.format !== undefined && Object.prototype.hasOwnProperty.call(FORMATS, field.format) ? FORMATS[field.format] : undefined;
  if (format && !format.test(text)) return issue(`must be ${format.what}`);
  return text;
}

/** True when nothing was typed, ticked or chosen anywhere in the draft. */
function isBlank(draft: Draft): boolean {
  if (typeof draft === 'string') return draft.trim() === '';
  if (typeof draft === 'boolean') return !draft;
  if (draft instanceof Map) return [...draft.values()].every(isBlank);
  return (draft as DraftList).length === 0;
}
