import { getMetadataStorage, IS_DIVISIBLE_BY, IS_ENUM, IS_INT, IS_NEGATIVE, IS_NUMBER, IS_POSITIVE, MAX, MIN, ValidationTypes } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

/** A JSON Schema object (draft-07 keywords, `$ref`s into `definitions`). */
export type JsonSchema = { [keyword: string]: unknown };

type InputClass = new () => object;
type Converter = (meta: ValidationMetadata) => JsonSchema;
interface SchemaLibrary {
  targetConstructorToSchema(target: InputClass, options: object): JsonSchema;
}
interface TypeMetadataStorage {
  findTypeMetadata(target: unknown, property: string): { typeFunction(): unknown } | undefined;
}

const REF_PREFIX = '#/definitions/';
const cache = new WeakMap<InputClass, JsonSchema>();

/**
 * The JSON Schema of a class-validator input class, derived with class-validator-jsonschema
 * (loaded on first use: a host that never asks pays nothing for it). Nested classes
 * (`@ValidateNested()` with class-transformer's `@Type(() => X)` for arrays) are `$ref`s into
 * `definitions`, which the schema carries; every object refuses properties it does not declare
 * (`additionalProperties: false`), as trigger() does. A property's `title`/`description` come from
 * `@JSONSchema({...})`. Cached per class.
 *
 * Corrected where the library depends on decorator order (decorators apply bottom-up and the
 * library merges their schemas in that order, the last one winning): `@Min`/`@Max` (and the
 * other bounds) no longer turn an `@IsInt()` property into a `number` when written above it, and
 * `@IsEnum` lists an enum's values only (not a numeric enum's reverse-mapped names), typed after them.
 */
export function inputSchemaOf(cls: InputClass): JsonSchema {
  let schema = cache.get(cls);
  if (!schema) {
    schema = build(cls);
    cache.set(cls, schema);
  }
  return structuredClone(schema);
}

function build(root: InputClass): JsonSchema {
  // loaded here, not at the top: see inputSchemaOf
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const library = require('class-validator-jsonschema') as SchemaLibrary;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const types = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: TypeMetadataStorage }).defaultMetadataStorage;
  const options = {
    classTransformerMetadataStorage: types,
    refPointerPrefix: REF_PREFIX,
    additionalConverters: converters(),
  };
  const definitions = new Map<string, JsonSchema>();
  const pending: InputClass[] = [root];
  while (pending.length > 0) {
    const cls = pending.pop()!;
    if (definitions.has(cls.name)) continue;
    const schema = library.targetConstructorToSchema(cls, options);
    if (schema.type === 'object' || schema.properties !== undefined) schema.additionalProperties = false;
    schema.type ??= 'object';
    schema.properties ??= {};
    definitions.set(cls.name, schema);
    for (const nested of nestedClasses(cls, types)) if (!definitions.has(nested.name)) pending.push(nested);
  }
  const schema = definitions.get(root.name)!;
  if (definitions.size === 1 && !JSON.stringify(schema).includes(REF_PREFIX)) return schema;
  return { ...schema, definitions: Object.fromEntries(definitions) };
}

function metadataOf(cls: unknown): ValidationMetadata[] {
  return getMetadataStorage().getTargetValidationMetadatas(cls as InputClass, '', true, false);
}

/** the classes of a class's `@ValidateNested()` properties */
function nestedClasses(cls: InputClass, types: TypeMetadataStorage): InputClass[] {
  const out: InputClass[] = [];
  for (const meta of metadataOf(cls)) {
    if (meta.type !== ValidationTypes.NESTED_VALIDATION) continue;
    const declared =
      types.findTypeMetadata(meta.target, meta.propertyName)?.typeFunction() ??
      Reflect.getMetadata('design:type', (meta.target as InputClass).prototype, meta.propertyName);
    if (typeof declared === 'function' && ![Array, Object, String, Number, Boolean, Date, Map, Set, Promise].includes(declared as never))
      out.push(declared as InputClass);
  }
  return out;
}

/** a metadata's validator name (`isInt`, `min`, ...): decorators made with ValidateBy are custom ones, named by their constraint */
function kindOf(meta: ValidationMetadata): string {
  if (meta.type !== ValidationTypes.CUSTOM_VALIDATION || !meta.constraintCls) return meta.type;
  return getMetadataStorage().getTargetValidatorConstraints(meta.constraintCls)[0]?.name ?? meta.type;
}

function propertyHas(meta: ValidationMetadata, kind: string): boolean {
  return metadataOf(meta.target).some((m) => m.propertyName === meta.propertyName && kindOf(m) === kind);
}

/** a bound's schema: typed `number` unless the property is declared an integer (whatever the order) */
function bound(keyword: string, value: (meta: ValidationMetadata) => unknown): Converter {
  return (meta) => ({ [keyword]: value(meta), ...(propertyHas(meta, IS_INT) ? {} : { type: 'number' }) });
}

function converters(): Record<string, Converter> {
  return {
    [MIN]: bound('minimum', (m) => m.constraints[0]),
    [MAX]: bound('maximum', (m) => m.constraints[0]),
    [IS_POSITIVE]: bound('exclusiveMinimum', () => 0),
    [IS_NEGATIVE]: bound('exclusiveMaximum', () => 0),
    [IS_DIVISIBLE_BY]: bound('multipleOf', (m) => m.constraints[0]),
    [IS_NUMBER]: (meta) => ({ type: propertyHas(meta, IS_INT) ? 'integer' : 'number' }),
    [IS_ENUM]: (meta) => enumSchema(meta.constraints[0] as Record<string, unknown>),
  };
}

/** an enum object's values: a TypeScript numeric enum also maps its values back to its names */
function enumSchema(entity: Record<string, unknown>): JsonSchema {
  const values = Object.keys(entity)
    .filter((key) => !(typeof entity[key] === 'string' && entity[entity[key] as string] === Number(key)))
    .map((key) => entity[key]);
  const unique = [...new Set(values)];
  if (unique.every((v) => typeof v === 'number')) return { enum: unique, type: unique.every((v) => Number.isInteger(v)) ? 'integer' : 'number' };
  if (unique.every((v) => typeof v === 'string')) return { enum: unique, type: 'string' };
  return { enum: unique };
}
