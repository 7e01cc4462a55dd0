import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import type { Plugin } from 'graphql-yoga';
import { GraphQLError, Kind, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

/** Limits on a query, checked before execution (MANAGEMENT.md section 3). */
export interface QueryLimits {
  /** deepest selection (default 10) */
  depth?: number;
  /** field selections in all, fragments expanded where they are spread (default 1,000) */
  fields?: number;
  /** aliases in one document (default 100) */
  aliases?: number;
}

export const DEFAULT_LIMITS: Required<QueryLimits> = { depth: 10, fields: 1000, aliases: 100 };

function tooComplex(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX' } });
}

/**
 * The estimated number of fields a query asks for: every field selection counts one, and a
 * fragment counts its fields each time it is spread (so that a few fragments spread into each
 * other cannot multiply the work unseen). Counting stops at the limit.
 */
export function estimatedFieldsRule(maxFields: number): ValidationRule {
  return (context: ValidationContext) => {
    const fragmentCost = new Map<string, number>();
    const count = (set: SelectionSetNode, visiting: Set<string>): number => {
      let total = 0;
      for (const sel of set.selections) {
        if (total > maxFields) break;
        if (sel.kind === Kind.FIELD) total += 1 + (sel.selectionSet ? count(sel.selectionSet, visiting) : 0);
        else if (sel.kind === Kind.INLINE_FRAGMENT) total += count(sel.selectionSet, visiting);
        else {
          const name = sel.name.value;
          let cost = fragmentCost.get(name);
          if (cost === undefined) {
            const fragment = context.getFragment(name);
            // a cycle is refused by graphql-js's own NoFragmentCycles rule: counted 0 here
            if (!fragment || visiting.has(name)) continue;
            visiting.add(name);
            cost = count(fragment.selectionSet, visiting);
            visiting.delete(name);
            fragmentCost.set(name, cost);
          }
          total += cost;
        }
      }
      return total;
    };
    return {
      OperationDefinition(op) {
        const fields = count(op.selectionSet, new Set());
        if (fields > maxFields) context.reportError(tooComplex(`Query too large: more than ${maxFields} fields estimated; ask for less, or page.`));
      },
    };
  };
}

/** the envelop plugins that enforce the limits in graphql-yoga (depth and aliases: GraphQL Armor) */
export function queryLimitPlugins(limits: QueryLimits = {}): Plugin[] {
  const l = { ...DEFAULT_LIMITS, ...limits };
  // Armor throws from inside validation unless told not to; reported as a validation error instead
  // (a 400 with a code), not an unexpected one
  const report = (context: ValidationContext | null, error: GraphQLError) => context?.reportError(tooComplex(error.message.replace(/^Syntax Error: /, '')));
  return [
    maxDepthPlugin({ n: l.depth, propagateOnRejection: false, onReject: [report] }),
    maxAliasesPlugin({ n: l.aliases, propagateOnRejection: false, onReject: [report] }),
    { onValidate: ({ addValidationRule }) => addValidationRule(estimatedFieldsRule(l.fields)) },
  ];
}
