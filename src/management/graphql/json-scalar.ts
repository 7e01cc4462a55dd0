import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/** literals nested deeper than this are refused (variables are bounded by the body size and trigger()'s own checks) */
const MAX_LITERAL_DEPTH = 64;

function literal(node: ValueNode, variables: Record<string, unknown> | null | undefined, depth: number): unknown {
  if (depth > MAX_LITERAL_DEPTH) throw new GraphQLError(`JSON literal nested deeper than ${MAX_LITERAL_DEPTH} levels`);
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literal(v, variables, depth + 1));
    case Kind.OBJECT: {
      // a null-prototype object: keys such as __proto__ stay plain keys (trigger() refuses them)
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const f of node.fields) out[f.name.value] = literal(f.value, variables, depth + 1);
      return { ...out };
    }
    case Kind.VARIABLE:
      return variables ? variables[node.name.value] : undefined;
    default:
      throw new GraphQLError(`JSON cannot represent ${node.kind}`);
  }
}

/** Any JSON value: run input, output, error, progress, context, schemas. */
export const JsonScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node, variables) => literal(node, variables, 0),
});
