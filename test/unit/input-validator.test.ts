import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsEmail, IsInt, IsObject, IsOptional, IsString, Min, ValidateNested } from 'class-validator';
import { TaskDefinitionError, TaskValidationError, TasklaneError } from '../../src/api/errors';
import { VALIDATOR_OPTIONS, isInputClass, prepareInput, validateInput } from '../../src/core/validation/input-validator';
import { DEFAULT_INPUT_LIMITS, deepFreeze, validateJsonData, type InputLimits } from '../../src/core/validation/json-data';

// ---------------------------------------------------------------------------------------------
// DTOs

class Item {
  @IsString() name!: string;
}

class Address {
  @IsString() city!: string;
}

class OrderInput {
  @IsInt() @Min(1) count!: number;
  @IsArray() @ValidateNested({ each: true }) @Type(() => Item) items!: Item[];
  @IsOptional() @ValidateNested() @Type(() => Address) address?: Address;
}

class UserInput {
  @IsEmail() email!: string;
}

class BlobInput {
  @IsString() s!: string;
}

/** free-form JSON under `data` / `list`: class-validator does not look inside, the walk does */
class FreeInput {
  @IsOptional() @IsObject() data?: Record<string, unknown>;
  @IsOptional() @IsArray() list?: unknown[];
}

class OptionalInput {
  @IsOptional() @IsString() note?: string;
}

class NoRules {
  x?: number;
}

class SubOrder extends OrderInput {}

class Other {
  email = 'a@b.c';
}

const LIMITS: InputLimits = { ...DEFAULT_INPUT_LIMITS };
const MiB = 1024 * 1024;

/** The error `fn` throws, which must be a TaskValidationError. */
function refusal(fn: () => unknown): TaskValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TaskValidationError);
    expect(TasklaneError.is(err)).toBe(true);
    return err as TaskValidationError;
  }
  throw new Error('expected a TaskValidationError, nothing was thrown');
}

/** `levels` nested objects: nested(1) = {}, nested(2) = { a: {} }. Built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let o: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) o = { a: o };
  return o;
}

function nestedArrays(levels: number): unknown[] {
  let a: unknown[] = [];
  for (let i = 1; i < levels; i++) a = [a];
  return a;
}

const validOrder = () => ({ count: 2, items: [{ name: 'a' }, { name: 'b' }], address: { city: 'Paris' } });

afterEach(() => {
  // S02: nothing may ever reach a prototype
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  expect((Array.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined();
});

// ---------------------------------------------------------------------------------------------

describe('VALIDATOR_OPTIONS (S03, CVE-2019-18413)', () => {
  it('whitelists, forbids non-whitelisted and unknown values, keeps values out of errors', () => {
    expect(VALIDATOR_OPTIONS.whitelist).toBe(true);
    expect(VALIDATOR_OPTIONS.forbidNonWhitelisted).toBe(true);
    expect(VALIDATOR_OPTIONS.forbidUnknownValues).toBe(true);
    expect(VALIDATOR_OPTIONS.validationError).toEqual({ target: false, value: false });
    expect(Object.isFrozen(VALIDATOR_OPTIONS)).toBe(true);
  });

  it('has 1 MiB / 64 levels / 10,000 keys and elements as default limits', () => {
    expect(DEFAULT_INPUT_LIMITS).toEqual({ maxInputBytes: MiB, maxDepth: 64, maxKeys: 10_000 });
  });
});

describe('definition without an input class', () => {
  it('accepts undefined and returns undefined', () => {
    expect(validateInput(undefined, undefined, LIMITS)).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ['{}', {}],
    ['null', null],
    ['a string', 'str'],
    ['0', 0],
    ['false', false],
    ['an array', []],
    ['an object', { a: 1 }],
  ])('refuses %s with noInput', (_label, raw) => {
    const err = refusal(() => validateInput(undefined, raw, LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors).toEqual([{ path: '', constraints: { noInput: 'this task takes no input' } }]);
  });
});

describe('the top-level value must be a plain JSON object (S03)', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['an array of objects', [{ email: 'a@b.c' }]],
    ['a string', 'str'],
    ['a number', 42],
    ['a boolean', true],
    ['a function', () => ({ email: 'a@b.c' })],
    ['a class instance of another type', new Other()],
    ['a Date', new Date()],
    ['a Map', new Map([['email', 'a@b.c']])],
    ['a boxed string', new String('x')],
    ['an object with a custom prototype', Object.create({ email: 'a@b.c' })],
    ['a Proxy', new Proxy({ email: 'a@b.c' }, {})],
    ['a symbol', Symbol('x')],
    ['a bigint', 1n],
  ])('refuses %s', (_label, raw) => {
    const err = refusal(() => validateInput(UserInput, raw, LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors).toHaveLength(1);
    expect(err.errors[0]!.path).toBe('');
    expect(Object.keys(err.errors[0]!.constraints)).toEqual(['isPlainObject']);
  });

  it('accepts an object with a null prototype', () => {
    const raw = Object.assign(Object.create(null) as Record<string, unknown>, { email: 'a@example.com' });
    const out = validateInput(UserInput, raw, LIMITS)!;
    expect(out).toBeInstanceOf(UserInput);
    expect(out.email).toBe('a@example.com');
  });

  it('validates undefined as {}: all-optional DTOs need no input, required properties are listed', () => {
    expect(validateInput(OptionalInput, undefined, LIMITS)).toBeInstanceOf(OptionalInput);
    const err = refusal(() => validateInput(UserInput, undefined, LIMITS));
    expect(err.errors.map((e) => e.path)).toEqual(['email']);
  });
});

describe('class-validator rules', () => {
  it('lists an undeclared property as non-whitelisted (S03)', () => {
    // the scenario's literal payload ('a@b.c' is not an e-mail to class-validator: listed too)
    const err = refusal(() => validateInput(UserInput, { email: 'a@b.c', isAdmin: true }, LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors).toContainEqual({ path: 'isAdmin', constraints: { whitelistValidation: 'property isAdmin should not exist' } });
    expect(err.message).toContain('isAdmin');
    // with a valid e-mail, isAdmin is the only complaint
    const err2 = refusal(() => validateInput(UserInput, { email: 'a@example.com', isAdmin: true }, LIMITS));
    expect(err2.errors).toEqual([{ path: 'isAdmin', constraints: { whitelistValidation: expect.any(String) } }]);
  });

  it('does no implicit string -> number conversion', () => {
    const err = refusal(() => validateInput(OrderInput, { ...validOrder(), count: '42' }, LIMITS));
    expect(err.errors).toEqual([{ path: 'count', constraints: expect.objectContaining({ isInt: expect.any(String) }) }]);
  });

  it('flattens nested errors into dotted paths, one entry per failing property', () => {
    const err = refusal(() =>
      validateInput(OrderInput, { count: 0, items: [{ name: 'ok' }, { name: 5, extra: 1 }], address: { city: 3 }, isAdmin: true }, LIMITS),
    );
    const byPath = new Map(err.errors.map((e) => [e.path, Object.keys(e.constraints)]));
    expect(byPath.get('isAdmin')).toEqual(['whitelistValidation']);
    expect(byPath.get('count')).toEqual(['min']);
    expect(byPath.get('items.1.name')).toEqual(['isString']);
    expect(byPath.get('items.1.extra')).toEqual(['whitelistValidation']);
    expect(byPath.get('address.city')).toEqual(['isString']);
    expect(byPath.has('items.0.name')).toBe(false);
    expect(err.errors).toHaveLength(5);
  });

  it('refuses a nested value that is not an object where a DTO is expected', () => {
    const err = refusal(() => validateInput(OrderInput, { count: 1, items: ['str'] }, LIMITS));
    expect(err.errors[0]!.path).toBe('items.0');
  });

  it('says which kind of value was refused in the message', () => {
    const err = refusal(() => validateInput(UserInput, { email: 'nope' }, LIMITS, 'continue() patch'));
    expect(err.message).toMatch(/^Invalid continue\(\) patch: email: /);
    const err2 = refusal(() => validateInput(UserInput, { email: 'nope' }, LIMITS));
    expect(err2.message).toMatch(/^Invalid input: email: /);
  });

  it('never puts the refused value into the errors', () => {
    const err = refusal(() => validateInput(UserInput, { email: 'secret-password' }, LIMITS));
    expect(JSON.stringify(err.errors)).not.toContain('secret-password');
    expect(err.message).not.toContain('secret-password');
  });

  it('refuses everything for a class without any rule (forbidUnknownValues)', () => {
    const err = refusal(() => validateInput(NoRules, {}, LIMITS));
    expect(Object.keys(err.errors[0]!.constraints)).toEqual(['unknownValue']);
  });
});

describe('the returned input', () => {
  it('is a deep-frozen instance of the class, nested DTOs included', () => {
    const out = validateInput(OrderInput, validOrder(), LIMITS)!;
    expect(out).toBeInstanceOf(OrderInput);
    expect(out.items[0]).toBeInstanceOf(Item);
    expect(out.address).toBeInstanceOf(Address);
    expect(out).toEqual(validOrder());
    for (const o of [out, out.items, out.items[0], out.items[1], out.address]) expect(Object.isFrozen(o)).toBe(true);
    expect(() => {
      (out as { count: number }).count = 3;
    }).toThrow(TypeError);
    expect(() => out.items.push({ name: 'c' })).toThrow(TypeError);
    expect(() => {
      out.address!.city = 'Lyon';
    }).toThrow(TypeError);
  });

  it("is detached from the caller's object", () => {
    const raw = validOrder();
    const out = validateInput(OrderInput, raw, LIMITS)!;
    raw.items[0]!.name = 'changed';
    raw.count = 99;
    expect(out.items[0]!.name).toBe('a');
    expect(out.count).toBe(2);
    expect(Object.isFrozen(raw)).toBe(false);
  });

  it('works for subclasses of a DTO', () => {
    expect(validateInput(SubOrder, validOrder(), LIMITS)).toBeInstanceOf(SubOrder);
  });

  it('prepareInput also gives the plain JSON data to store, frozen and class-free', () => {
    const { instance, plain } = prepareInput(OrderInput, validOrder(), LIMITS);
    expect(instance).toBeInstanceOf(OrderInput);
    expect(plain).toEqual(validOrder());
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype);
    expect(Object.getPrototypeOf((plain!.items as unknown[])[0])).toBe(Object.prototype);
    expect(Object.isFrozen(plain)).toBe(true);
    expect(prepareInput(undefined, undefined, LIMITS)).toEqual({ instance: undefined, plain: undefined });
  });

  it('treats undefined properties as absent, as JSON does', () => {
    const { instance, plain } = prepareInput(OptionalInput, { note: undefined }, LIMITS);
    expect(instance).toBeInstanceOf(OptionalInput);
    expect(instance!.note).toBeUndefined();
    expect(plain).toEqual({});
    expect(Object.keys(plain!)).toEqual([]);
  });
});

describe('only JSON data inside', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cyclicArray: unknown[] = [];
  cyclicArray.push(cyclicArray);
  const withGetter = Object.defineProperty({}, 'x', { get: () => 1, enumerable: true });
  const withHidden = Object.defineProperty({}, 'x', { value: 1, enumerable: false });
  const withSymbolKey = { [Symbol('k')]: 1 };
  const holey = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const arrayWithExtra = Object.assign([1, 2], { extra: 1 });

  it.each<[string, unknown, string]>([
    ['a function', { f: () => 1 }, 'data.f'],
    ['a symbol value', { s: Symbol('x') }, 'data.s'],
    ['a bigint', { n: 10n }, 'data.n'],
    ['NaN', { n: NaN }, 'data.n'],
    ['Infinity', { n: Infinity }, 'data.n'],
    ['-Infinity in an array', { n: [1, -Infinity] }, 'data.n.1'],
    ['undefined in an array', { a: [1, undefined] }, 'data.a.1'],
    ['an array hole', { a: holey }, 'data.a'],
    ['an array with extra properties', { a: arrayWithExtra }, 'data.a'],
    ['a Date', { d: new Date(0) }, 'data.d'],
    ['a Map', { m: new Map() }, 'data.m'],
    ['a Set', { m: new Set() }, 'data.m'],
    ['a RegExp', { r: /x/ }, 'data.r'],
    ['a Buffer', { b: Buffer.from('x') }, 'data.b'],
    ['a class instance', { o: new Other() }, 'data.o'],
    ['a Proxy', { p: new Proxy({}, {}) }, 'data.p'],
    ['a cycle', { c: cyclic }, 'data.c.self'],
    ['a cycle through arrays', { c: cyclicArray }, 'data.c.0'],
    ['an accessor property', { g: withGetter }, 'data.g.x'],
    ['a non-enumerable property', { h: withHidden }, 'data.h.x'],
    ['a symbol key', { k: withSymbolKey }, 'data.k.Symbol(k)'],
  ])('refuses %s, naming its path', (_label, data, path) => {
    const err = refusal(() => validateInput(FreeInput, { data }, LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors.map((e) => e.path)).toContain(path);
  });

  it('does not call getters while checking', () => {
    const getter = jest.fn(() => 1);
    const data = Object.defineProperty({}, 'x', { get: getter, enumerable: true });
    refusal(() => validateInput(FreeInput, { data }, LIMITS));
    expect(getter).not.toHaveBeenCalled();
  });

  it('accepts the same object reached twice (no cycle)', () => {
    const shared = { k: 1 };
    const out = validateInput(FreeInput, { data: { a: shared, b: shared }, list: [shared, shared] }, LIMITS)!;
    expect(out.data).toEqual({ a: { k: 1 }, b: { k: 1 } });
  });

  it('accepts every JSON type', () => {
    const data = { s: 'x', n: -1.5, z: 0, t: true, f: false, nul: null, arr: [1, 'a', null, [], {}], obj: { deep: { er: [] } } };
    expect(validateInput(FreeInput, { data }, LIMITS)!.data).toEqual(data);
  });
});

describe('S01 sizes and depth', () => {
  // '{"s":"' + content + '"}' is content + 8 bytes
  const OVERHEAD = 8;

  it('accepts an input of exactly maxInputBytes', () => {
    const raw = { s: 'x'.repeat(MiB - OVERHEAD) };
    expect(Buffer.byteLength(JSON.stringify(raw))).toBe(MiB);
    expect(validateInput(BlobInput, raw, LIMITS)!.s).toHaveLength(MiB - OVERHEAD);
  });

  it('refuses one byte more with INPUT_TOO_LARGE', () => {
    const raw = { s: 'x'.repeat(MiB - OVERHEAD + 1) };
    const err = refusal(() => validateInput(BlobInput, raw, LIMITS));
    expect(err.code).toBe('INPUT_TOO_LARGE');
    expect(err.errors).toEqual([{ path: '', constraints: { maxBytes: expect.stringContaining(String(MiB)) } }]);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const limits = { maxInputBytes: 100, maxDepth: 64 };
    const fits = { s: 'é'.repeat((100 - OVERHEAD) / 2) }; // 2 bytes each
    expect(validateInput(BlobInput, fits, limits)).toBeDefined();
    const over = { s: `${'é'.repeat((100 - OVERHEAD) / 2 - 1)}xxx` }; // 101 bytes, 55 characters
    expect(refusal(() => validateInput(BlobInput, over, limits)).code).toBe('INPUT_TOO_LARGE');
  });

  it('counts the escapes JSON adds', () => {
    const limits = { maxInputBytes: 100, maxDepth: 64 };
    const raw = { s: '\u0001'.repeat(20) }; // 20 characters, 120 bytes as JSON (\u0001)
    expect(refusal(() => validateInput(BlobInput, raw, limits)).code).toBe('INPUT_TOO_LARGE');
  });

  it('refuses a 50 MiB input cheaply, with INPUT_TOO_LARGE', () => {
    const payloadBytes = 50 * MiB;
    const raw = { s: 'x'.repeat(payloadBytes) };
    const rssBefore = process.memoryUsage().rss;
    const err = refusal(() => validateInput(BlobInput, raw, LIMITS));
    const growth = process.memoryUsage().rss - rssBefore;
    expect(err.code).toBe('INPUT_TOO_LARGE');
    expect(growth).toBeLessThan(2 * payloadBytes);
  });

  it('refuses a huge array before listing its elements', () => {
    const err = refusal(() => validateInput(FreeInput, { list: new Array(5_000_000).fill(0) }, LIMITS));
    expect(err.code).toBe('INPUT_TOO_LARGE');
  });

  it('refuses an object with very many keys (counted before anything else is looked at per key)', () => {
    const data: Record<string, number> = {};
    for (let i = 0; i < 200_000; i++) data[`k${i}`] = i;
    expect(refusal(() => validateInput(FreeInput, { data }, LIMITS)).code).toBe('INPUT_TOO_COMPLEX');
    // without a key limit, its size refuses it
    expect(refusal(() => validateInput(FreeInput, { data }, { maxInputBytes: MiB, maxDepth: 64 })).code).toBe('INPUT_TOO_LARGE');
  });

  it('accepts 64 levels and refuses 65 with INPUT_TOO_DEEP', () => {
    // the top-level object is level 1, so data holds 63 more
    expect(validateInput(FreeInput, { data: nested(63) }, LIMITS)).toBeDefined();
    const err = refusal(() => validateInput(FreeInput, { data: nested(64) }, LIMITS));
    expect(err.code).toBe('INPUT_TOO_DEEP');
    expect(err.errors).toHaveLength(1);
    expect(err.errors[0]!.path).toBe(['data', ...new Array(63).fill('a')].join('.'));
  });

  it.each<[string, () => unknown]>([
    ['objects', () => ({ data: nested(10_000) })],
    ['arrays', () => ({ list: nestedArrays(10_000) })],
    ['objects, parsed from JSON', () => JSON.parse(`{"data":${'{"a":'.repeat(10_000)}{}${'}'.repeat(10_000)}}`)],
    ['objects, a million levels', () => ({ data: nested(1_000_000) })],
  ])('refuses 10,000+ levels of %s with INPUT_TOO_DEEP and no RangeError', (_label, make) => {
    const raw = make();
    let thrown: unknown;
    try {
      validateInput(FreeInput, raw, LIMITS);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).not.toBeInstanceOf(RangeError);
    expect(thrown).toBeInstanceOf(TaskValidationError);
    expect((thrown as TaskValidationError).code).toBe('INPUT_TOO_DEEP');
  });

  it('applies a custom maxDepth', () => {
    expect(validateInput(FreeInput, { data: { a: {} } }, { maxInputBytes: MiB, maxDepth: 3 })).toBeDefined();
    expect(refusal(() => validateInput(FreeInput, { data: { a: { b: {} } } }, { maxInputBytes: MiB, maxDepth: 3 })).code).toBe('INPUT_TOO_DEEP');
  });
});

describe('S02 prototype pollution', () => {
  it.each<[string, string, string]>([
    ['__proto__ at the top', '{"__proto__":{"polluted":1}}', '__proto__'],
    ['constructor.prototype at the top', '{"constructor":{"prototype":{"polluted":1}}}', 'constructor'],
    ['prototype at the top', '{"prototype":{"polluted":1}}', 'prototype'],
    ['__proto__ in a free-form object', '{"data":{"x":{"__proto__":{"polluted":1}}}}', 'data.x.__proto__'],
    ['__proto__ nested in an array', '{"list":[1,{"__proto__":{"polluted":1}}]}', 'list.1.__proto__'],
    ['constructor.prototype nested in arrays', '{"list":[[{"constructor":{"prototype":{"polluted":1}}}]]}', 'list.0.0.constructor'],
  ])('refuses %s (FreeInput)', (_label, json, path) => {
    const raw: unknown = JSON.parse(json);
    const err = refusal(() => validateInput(FreeInput, raw, LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors).toContainEqual({ path, constraints: { forbiddenKey: expect.any(String) } });
  });

  it.each<[string, string, string]>([
    ['__proto__ in a DTO array element', '{"count":1,"items":[{"name":"a","__proto__":{"polluted":1}}]}', 'items.0.__proto__'],
    ['__proto__ in a DTO sub-object', '{"count":1,"items":[],"address":{"city":"x","__proto__":{"polluted":1}}}', 'address.__proto__'],
    ['constructor in a DTO sub-object', '{"count":1,"items":[],"address":{"city":"x","constructor":{"prototype":{"polluted":1}}}}', 'address.constructor'],
    ['__proto__ beside valid DTO data', '{"count":1,"items":[],"__proto__":{"polluted":1}}', '__proto__'],
  ])('refuses %s (OrderInput)', (_label, json, path) => {
    const err = refusal(() => validateInput(OrderInput, JSON.parse(json), LIMITS));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.errors).toContainEqual({ path, constraints: { forbiddenKey: expect.any(String) } });
    expect(err.errors[0]!.constraints.forbiddenKey ?? '').toMatch(/__proto__|constructor|prototype/);
  });

  it('refuses them in validateJsonData (context, output) too', () => {
    for (const json of ['{"__proto__":{"polluted":1}}', '[{"constructor":{"prototype":{"polluted":1}}}]']) {
      const err = refusal(() => validateJsonData(JSON.parse(json), LIMITS, 'context'));
      expect(err.code).toBe('INPUT_INVALID');
      expect(err.message).toMatch(/^Invalid context/);
    }
  });

  it('refuses them for a definition without an input class too', () => {
    expect(refusal(() => validateInput(undefined, JSON.parse('{"__proto__":{"polluted":1}}'), LIMITS)).code).toBe('INPUT_INVALID');
  });

  it('accepts keys that only look similar', () => {
    const out = validateInput(FreeInput, { data: { proto: 1, __proto: 2, Constructor: 3, prototypes: 4 } }, LIMITS)!;
    expect(out.data).toEqual({ proto: 1, __proto: 2, Constructor: 3, prototypes: 4 });
  });
});

describe('validateJsonData', () => {
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'done'],
    ['a number', 3],
    ['an array', [1, { a: 'b' }]],
    ['an object', { imported: 3 }],
  ])('accepts %s', (_label, value) => {
    expect(() => validateJsonData(value, LIMITS, 'output')).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['a function', () => 1, 'INPUT_INVALID'],
    [
      'a cycle',
      (() => {
        const a: unknown[] = [];
        a.push(a);
        return a;
      })(),
      'INPUT_INVALID',
    ],
    ['a Date', new Date(), 'INPUT_INVALID'],
    ['a class instance', new Other(), 'INPUT_INVALID'],
    ['NaN', NaN, 'INPUT_INVALID'],
    ['too large', 'x'.repeat(MiB), 'INPUT_TOO_LARGE'],
    ['too deep', nestedArrays(10_000), 'INPUT_TOO_DEEP'],
  ])('refuses %s', (_label, value, code) => {
    const err = refusal(() => validateJsonData(value, LIMITS, 'output'));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(/^Invalid output/);
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays and returns the same value', () => {
    const v = { a: { b: [{ c: 1 }] }, d: [[1]] };
    expect(deepFreeze(v)).toBe(v);
    for (const o of [v, v.a, v.a.b, v.a.b[0], v.d, v.d[0]]) expect(Object.isFrozen(o)).toBe(true);
  });

  it('handles cycles, deep nesting, typed arrays and primitives', () => {
    const c: Record<string, unknown> = {};
    c.self = c;
    expect(Object.isFrozen(deepFreeze(c))).toBe(true);
    const deep = nested(100_000);
    expect(() => deepFreeze(deep)).not.toThrow();
    expect(() => deepFreeze({ t: new Uint8Array(4) })).not.toThrow();
    expect(deepFreeze(5)).toBe(5);
    expect(deepFreeze(null)).toBeNull();
  });

  it('does not freeze functions', () => {
    const f = () => 1;
    deepFreeze({ f });
    expect(Object.isFrozen(f)).toBe(false);
  });
});

describe('isInputClass', () => {
  it.each<[string, unknown, boolean]>([
    ['a DTO', OrderInput, true],
    ['a subclass of a DTO', SubOrder, true],
    ['a class without any rule', NoRules, false],
    ['Object', Object, false],
    ['Date', Date, false],
    ['an arrow function', () => ({}), false],
    ['an object', {}, false],
    ['a string', 'OrderInput', false],
    ['undefined', undefined, false],
  ])('%s -> %s', (_label, value, expected) => {
    expect(isInputClass(value)).toBe(expected);
  });

  it('validateInput refuses a non-class with a definition error', () => {
    expect(() => validateInput({} as unknown as new () => object, {}, LIMITS)).toThrow(TaskDefinitionError);
  });
});
