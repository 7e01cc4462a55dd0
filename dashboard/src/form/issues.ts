import type { FieldIssue } from './collect-input';
import type { FieldSpec, GroupField } from './field-spec';
import { type Draft, type DraftGroup, type DraftList, type DraftPath, pathKey } from './draft';

/**
 * The issues of an `INPUT_INVALID` answer (`extensions.errors`: `{ path, constraints }[]`, as
 * `TaskValidationError.errors`), one per broken constraint. Anything not of that shape is skipped:
 * the answer is data from the network.
 */
export function issuesFromServer(errors: unknown): FieldIssue[] {
  if (!Array.isArray(errors)) return [];
  const out: FieldIssue[] = [];
  for (const entry of errors as unknown[]) {
    if (!entry || typeof entry !== 'object') continue;
    const { path, constraints } = entry as { path?: unknown; constraints?: unknown };
    const at = typeof path === 'string' ? path : '';
    if (constraints && typeof constraints === 'object') {
      for (const message of Object.values(constraints as Record<string, unknown>)) {
        if (typeof message === 'string') out.push({ path: at, message });
      }
    }
  }
  return out;
}

/** Issues grouped by the field they name, and those that name no field of the form (shown above it). */
export interface PlacedIssues {
  byPath: ReadonlyMap<string, readonly string[]>;
  general: readonly FieldIssue[];
}

/** Places each issue beside the field its path names; an issue naming no rendered field is general. */
export function placeIssues(form: GroupField, draft: DraftGroup, issues: readonly FieldIssue[]): PlacedIssues {
  const paths = new Set<string>();
  listPaths(form, draft, [], paths);
  const byPath = new Map<string, string[]>();
  const general: FieldIssue[] = [];
  for (const issue of issues) {
    if (issue.path !== '' && paths.has(issue.path)) {
      const list = byPath.get(issue.path) ?? [];
      list.push(issue.message);
      byPath.set(issue.path, list);
    } else {
      general.push(issue);
    }
  }
  return { byPath, general };
}

function listPaths(field: FieldSpec, draft: Draft | undefined, path: DraftPath, out: Set<string>): void {
  if (path.length > 0) out.add(pathKey(path));
  if (field.kind === 'group') {
    const group = draft instanceof Map ? draft : new Map<string, Draft>();
    for (const child of field.fields) listPaths(child, group.get(child.name), [...path, child.name], out);
  } else if (field.kind === 'list' && Array.isArray(draft)) {
    (draft as DraftList).forEach((item, i) => listPaths(field.item, item, [...path, i], out));
  }
}
