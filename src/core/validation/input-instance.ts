import { plainToInstance, TransformationType, type ClassTransformOptions } from 'class-transformer';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';

/** class-transformer options: no implicit conversion (`'42'` stays a string) unless the DTO asks. */
export const TRANSFORM_OPTIONS: Readonly<ClassTransformOptions> = Object.freeze({
  enableImplicitConversion: false,
  excludeExtraneousValues: false,
  exposeDefaultValues: false,
});

/*
 * class-transformer's own metadata (what @Type, @Transform, @Expose and @Exclude recorded). The
 * package exports it only from this module (class-transformer 0.5.1, unchanged since 2021); its
 * public methods are what class-transformer itself calls during plainToInstance.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage: transformerMetadata } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage };

type Ctor = new () => object;

/** Types class-transformer converts values to itself (a `@Type(() => Number)` is not a DTO). */
const NOT_DTOS: ReadonlySet<unknown> = new Set<unknown>([Object, Array, String, Number, Boolean, Date, Map, Set, Buffer, Promise, Symbol, BigInt, Function]);

/** classes whose whole transformation is class-transformer's (see build) */
const delegated = new WeakMap<Ctor, boolean>();

function delegatesAll(cls: Ctor): boolean {
  let answer = delegated.get(cls);
  if (answer === undefined) {
    // @Expose / @Exclude rename, hide or add keys: the class is left to class-transformer
    answer =
      transformerMetadata.getStrategy(cls) !== 'none' ||
      transformerMetadata.getExposedMetadatas(cls).length > 0 ||
      transformerMetadata.getExcludedMetadatas(cls).length > 0;
    delegated.set(cls, answer);
  }
  return answer;
}

/**
 * The instance of an input class made from validated JSON data: what
 * `plainToInstance(cls, data, TRANSFORM_OPTIONS)` makes, in time linear in the data's size.
 *
 * Why: class-transformer walks every value it is given, plain data included, and removes
 * duplicate keys of each object with `indexOf` (quadratic): 100,000 keys in an `@IsObject()`
 * property took 5 to 9 s of CPU, at every trigger and again at every iteration. Here a property
 * without class-transformer metadata, which class-transformer would only copy (no implicit
 * conversion), gets the value itself (the data is a fresh JSON copy: nothing is shared with a
 * caller); a `@Type(() => Dto)` property is built the same way, recursively; anything else
 * (`@Transform`, `@Expose`, `@Exclude`, discriminators, `@Type` of a built-in such as Number or
 * Date, Map or Set properties) is handed to class-transformer itself, for that class or property,
 * so its semantics are kept exactly where a DTO asks for them.
 */
export function toInputInstance<I extends object>(cls: new () => I, data: Record<string, unknown>): I {
  return build(cls as Ctor, data) as I;
}

/** What class-transformer knows of one property of a class. */
interface KeyInfo {
  transformed: boolean;
  type: ReturnType<MetadataStorage['findTypeMetadata']> | undefined;
}

const NO_METADATA: KeyInfo = Object.freeze({ transformed: false, type: undefined });
/** per class, the KeyInfo of the keys met so far; at most this many each (keys are the caller's) */
const MAX_CACHED_KEYS = 1000;
const keyInfos = new WeakMap<Ctor, Map<string, KeyInfo>>();

/**
 * class-transformer's metadata of `cls[key]`, looked up once per class and key: the lookups
 * allocate, and a 3,000-DTO array repeats the same few keys. The cache holds the first
 * MAX_CACHED_KEYS keys of each class (its declared properties come first in practice); keys past
 * that are looked up every time, so a caller sending random keys cannot grow it.
 */
function keyInfo(cls: Ctor, key: string): KeyInfo {
  let cache = keyInfos.get(cls);
  const cached = cache?.get(key);
  if (cached) return cached;
  const transformed = transformerMetadata.findTransformMetadatas(cls, key, TransformationType.PLAIN_TO_CLASS).length > 0;
  const type = transformerMetadata.findTypeMetadata(cls, key);
  const info = transformed || type ? { transformed, type } : NO_METADATA;
  if (!cache) keyInfos.set(cls, (cache = new Map()));
  if (cache.size < MAX_CACHED_KEYS) cache.set(key, info);
  return info;
}

function build(cls: Ctor, data: Record<string, unknown>): object {
  if (delegatesAll(cls)) return transform(cls, data);
  const keys = Object.keys(data);
  // a @Transform may read the whole object (its `obj`): such a class is class-transformer's
  for (const key of keys) if (keyInfo(cls, key).transformed) return transform(cls, data);
  const instance = new cls() as Record<string, unknown>;
  const proto = (instance.constructor as { prototype?: object } | undefined)?.prototype;
  let handOver: Record<string, unknown> | undefined;
  for (const key of keys) {
    if (key === '__proto__' || key === 'constructor') continue; // as class-transformer (and refused before anyway)
    // as class-transformer: a method or a getter without setter of the class is never overwritten
    const desc = proto ? Object.getOwnPropertyDescriptor(proto, key) : undefined;
    if ((desc && !desc.set) || instance[key] instanceof Function) continue;
    const value = data[key];
    const meta = keyInfo(cls, key).type;
    if (!meta) {
      instance[key] = value;
      continue;
    }
    const dto = dtoType(meta, instance, data, key);
    if (dto) instance[key] = buildValue(dto, value);
    else (handOver ??= {})[key] = value;
  }
  if (handOver) {
    // class-transformer's own conversion for these properties alone (built-in types, maps, discriminators)
    const part = transform(cls, handOver) as Record<string, unknown>;
    for (const key of Object.keys(handOver)) instance[key] = part[key];
  }
  return instance;
}

/**
 * class-transformer's plainToInstance, on a copy: it may change what it is given (a discriminator
 * property is deleted), and the data given here is the very JSON copy that is stored (and frozen).
 */
function transform(cls: Ctor, data: Record<string, unknown>): object {
  return plainToInstance(cls, structuredClone(data), TRANSFORM_OPTIONS);
}

/** a value of a `@Type(() => Dto)` property: arrays element by element, objects built, others as they are */
function buildValue(dto: Ctor, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item: unknown) => buildValue(dto, item));
  if (typeof value === 'object' && value !== null) return build(dto, value as Record<string, unknown>);
  return value; // class-transformer keeps primitives and null as they are for a class type
}

/** the DTO class of a `@Type` property when building it here gives what class-transformer gives */
function dtoType(meta: ReturnType<MetadataStorage['findTypeMetadata']>, instance: object, data: object, key: string): Ctor | undefined {
  if (meta.options?.discriminator) return undefined;
  if (meta.reflectedType === Map || meta.reflectedType === Set) return undefined;
  const type: unknown = meta.typeFunction
    ? meta.typeFunction({ newObject: instance, object: data as Record<string, unknown>, property: key })
    : meta.reflectedType;
  if (typeof type !== 'function' || NOT_DTOS.has(type)) return undefined;
  const proto: unknown = (type as { prototype?: unknown }).prototype;
  return typeof proto === 'object' && proto !== null ? (type as Ctor) : undefined;
}
