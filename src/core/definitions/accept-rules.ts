import type { AcceptRules } from '../../api/types';
import { InvalidArgumentError } from '../../api/errors';

function matches(pattern: string, id: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return id.startsWith(pattern.slice(0, -1));
  return pattern === id;
}

/** Whether a node with these rules executes distributable definition `id`. Exclude wins. */
export function accepts(rules: AcceptRules, id: string): boolean {
  if (rules.exclude?.some((p) => matches(p, id))) return false;
  if (!rules.include) return true;
  return rules.include.some((p) => matches(p, id));
}

export function checkAcceptRules(rules: unknown): AcceptRules {
  if (rules === undefined) return {};
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw new InvalidArgumentError('accept must be { include?: string[], exclude?: string[] }');
  }
  const { include, exclude, ...rest } = rules as Record<string, unknown>;
  if (Object.keys(rest).length) throw new InvalidArgumentError(`accept has unknown keys: ${Object.keys(rest).join(', ')}`);
  for (const [name, list] of [
    ['include', include],
    ['exclude', exclude],
  ] as const) {
    if (list !== undefined && (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 128))) {
      throw new InvalidArgumentError(`accept.${name} must be an array of definition ids or "prefix.*" patterns`);
    }
  }
  return { include: include as string[] | undefined, exclude: exclude as string[] | undefined };
}
