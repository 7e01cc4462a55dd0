import 'reflect-metadata';
import { Exclude, Expose, plainToInstance, Transform, Type } from 'class-transformer';
import { IsArray, IsDate, IsInt, IsNumber, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { Container } from 'inversify';
import { registerTasks, Task, TaskEngine, tasklane, TaskService, type TaskDefinition, type TaskRunParams } from '../../src';
import { InvalidArgumentError, TaskValidationError } from '../../src/api/errors';
import { toInputInstance, TRANSFORM_OPTIONS } from '../../src/core/validation/input-instance';
import { prepareInput } from '../../src/core/validation/input-validator';
import { copyJsonData, DEFAULT_MAX_INPUT_KEYS, validateJsonData } from '../../src/core/validation/json-data';

/**
 * maxInputKeys (INPUT_TOO_COMPLEX) and the linear input-instance builder (issue 8: validation cost
 * linear in the input's size). Costs are printed by `npm run bench` (validation cost), not asserted.
 */

class Free {
  @IsOptional() @IsObject() data?: Record<string, unknown>;
  @IsOptional() @IsArray() list?: unknown[];
}

const limits = (maxKeys: number) => ({ maxInputBytes: 1024 * 1024, maxDepth: 64, maxKeys });

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(TaskValidationError);
    return (err as TaskValidationError).code;
  }
}

function wide(n: number): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) o[`k${i}`] = i;
  return o;
}

describe('maxInputKeys: object keys and array elements, counted over the whole input', () => {
  it('accepts exactly the limit and refuses one more with INPUT_TOO_COMPLEX', () => {
    // the top-level key "data" counts too
    expect(codeOf(() => prepareInput(Free, { data: wide(99) }, limits(100)))).toBe('accepted');
    expect(codeOf(() => prepareInput(Free, { data: wide(100) }, limits(100)))).toBe('INPUT_TOO_COMPLEX');
    expect(codeOf(() => prepareInput(Free, { list: new Array(99).fill(1) }, limits(100)))).toBe('accepted');
    expect(codeOf(() => prepareInput(Free, { list: new Array(100).fill(1) }, limits(100)))).toBe('INPUT_TOO_COMPLEX');
  });

  it('counts nested keys and elements of every level together', () => {
    const input = { data: { a: [1, 2, 3], b: { c: [{ d: 1 }, { e: 2 }] } } };
    // data, a, 3 elements, b, c, 2 elements, d, e = 11
    expect(codeOf(() => prepareInput(Free, input, limits(11)))).toBe('accepted');
    expect(codeOf(() => prepareInput(Free, input, limits(10)))).toBe('INPUT_TOO_COMPLEX');
  });

  it('names the limit in the error, with one issue at the root', () => {
    const err = (() => {
      try {
        prepareInput(Free, { data: wide(20_000) }, limits(DEFAULT_MAX_INPUT_KEYS));
      } catch (e) {
        return e as TaskValidationError;
      }
      throw new Error('accepted');
    })();
    expect(err.code).toBe('INPUT_TOO_COMPLEX');
    expect(err.errors).toEqual([{ path: '', constraints: { maxKeys: 'more than 10000 object keys and array elements in all' } }]);
    expect(err.message).toContain('more than 10000 object keys');
  });

  it('refuses before the input class is built or validated (no @Transform runs)', () => {
    let calls = 0;
    class Spied {
      @Transform(({ value }) => {
        calls++;
        return value;
      })
      @IsOptional()
      @IsObject()
      data?: Record<string, unknown>;
    }
    expect(codeOf(() => prepareInput(Spied, { data: wide(11) }, limits(10)))).toBe('INPUT_TOO_COMPLEX');
    expect(calls).toBe(0);
    expect(codeOf(() => prepareInput(Spied, { data: wide(5) }, limits(10)))).toBe('accepted');
    expect(calls).toBe(1);
  });

  it('applies to continue() patches and contexts (the same limits), not to outputs or store values', () => {
    expect(codeOf(() => prepareInput(Free, { list: new Array(11).fill(0) }, limits(10), 'continue() patch'))).toBe('INPUT_TOO_COMPLEX');
    expect(() => validateJsonData(new Array(50_000).fill(0), { maxInputBytes: 1024 * 1024, maxDepth: 64 }, 'output')).not.toThrow();
    expect(copyJsonData({ a: new Array(20).fill(0) }, { maxInputBytes: 1024, maxDepth: 64 }, 'store value')).toEqual({ a: new Array(20).fill(0) });
  });

  it('is an option of tasklane({...}) and of @Task, checked: a positive integer', async () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, '10']) {
      expect(() => tasklane({ maxInputKeys: bad as number })).toThrow(InvalidArgumentError);
    }
    @Task({ id: 'limits.default', title: 'Engine default' })
    class DefaultLimit implements TaskDefinition<undefined, void> {
      run({ controller }: TaskRunParams<undefined, void>) {
        return controller.response.done();
      }
    }
    class In {
      @IsArray() list!: number[];
    }
    @Task({ id: 'limits.own', title: 'Its own limit', input: In, maxInputKeys: 5 })
    class OwnLimit implements TaskDefinition<In, void> {
      run({ controller }: TaskRunParams<In, void>) {
        return controller.response.done();
      }
    }
    @Task({ id: 'limits.engine', title: 'Engine limit', input: In })
    class EngineLimit implements TaskDefinition<In, void> {
      run({ controller }: TaskRunParams<In, void>) {
        return controller.response.done();
      }
    }
    @Task({ id: 'limits.bad', title: 'Broken limit', input: In, maxInputKeys: 0 })
    class BadLimit implements TaskDefinition<In, void> {
      run({ controller }: TaskRunParams<In, void>) {
        return controller.response.done();
      }
    }
    const container = new Container();
    await container.load(tasklane({ maxInputKeys: 20 }));
    const [, , , bad] = registerTasks(container, [DefaultLimit, OwnLimit, EngineLimit, BadLimit]);
    expect(bad.fault?.code).toBe('DEFINITION_INVALID');
    const service = container.get(TaskService);
    await expect(service.trigger({ definition: 'limits.own', input: { list: [1, 2, 3, 4] } })).resolves.toMatchObject({ status: 'pending' });
    await expect(service.trigger({ definition: 'limits.own', input: { list: [1, 2, 3, 4, 5] } })).rejects.toMatchObject({ code: 'INPUT_TOO_COMPLEX' });
    await expect(service.trigger({ definition: 'limits.engine', input: { list: new Array(19).fill(1) } })).resolves.toMatchObject({ status: 'pending' });
    await expect(service.trigger({ definition: 'limits.engine', input: { list: new Array(20).fill(1) } })).rejects.toMatchObject({ code: 'INPUT_TOO_COMPLEX' });
    // runInline's input has the engine's limit too
    await expect(service.runInline(() => 1, { list: new Array(20).fill(1) })).rejects.toMatchObject({ code: 'INPUT_TOO_COMPLEX' });
    await container.get(TaskEngine).stop();
  });
});

describe('toInputInstance makes what class-transformer makes', () => {
  class Item {
    @IsString() name!: string;
    @IsOptional() @IsObject() meta?: Record<string, unknown>;
    label(): string {
      return `item ${this.name}`;
    }
  }
  class Order {
    @IsInt() count!: number;
    @IsArray() @ValidateNested({ each: true }) @Type(() => Item) items!: Item[];
    @IsOptional() @ValidateNested() @Type(() => Item) main?: Item;
    @IsOptional() @IsObject() extra?: Record<string, unknown>;
    @IsOptional() @Type(() => Date) @IsDate() at?: Date;
    @IsOptional() @Type(() => Number) @IsNumber() asNumber?: number;
    get total(): number {
      return this.count * 2;
    }
    greet(): string {
      return 'hi';
    }
  }
  class Renamed {
    @Expose({ name: 'full_name' }) @IsString() fullName!: string;
    @Exclude() secret?: string;
  }
  class Transformed {
    @Transform(({ value, obj }) => `${String(value)}:${String((obj as { b: unknown }).b)}`) @IsString() a!: string;
    @IsInt() b!: number;
  }
  abstract class Shape {
    kind!: string;
  }
  class Circle extends Shape {
    @IsNumber() r!: number;
  }
  class Square extends Shape {
    @IsNumber() side!: number;
  }
  class Drawing {
    @ValidateNested()
    @Type(() => Shape, {
      discriminator: {
        property: 'kind',
        subTypes: [
          { value: Circle, name: 'circle' },
          { value: Square, name: 'square' },
        ],
      },
    })
    shape!: Shape;
  }

  const cases: Array<[string, new () => object, Record<string, unknown>]> = [
    [
      'nested DTOs, arrays of DTOs, plain data, built-in @Type, prototype getter and methods',
      Order,
      {
        count: 2,
        items: [{ name: 'a', meta: { x: [1, { y: 2 }] } }, { name: 'b' }, 7, null, [{ name: 'c' }]],
        main: { name: 'm' },
        extra: { deep: { deeper: [1, 2, 3] } },
        at: '2030-01-01T00:00:00.000Z',
        asNumber: '42',
        total: 99,
        greet: 'not a function',
        unknown: { kept: true },
      },
    ],
    ['@Expose / @Exclude', Renamed, { full_name: 'Ada', secret: 's', other: 1 }],
    ['@Transform reading a sibling', Transformed, { a: 'x', b: 2 }],
    ['a discriminator', Drawing, { shape: { kind: 'square', side: 3 } }],
  ];

  test.each(cases)('%s', (_label, cls, data) => {
    const expected = plainToInstance(cls, structuredClone(data), TRANSFORM_OPTIONS);
    const copy = structuredClone(data);
    const built = toInputInstance(cls, copy);
    expect(built).toBeInstanceOf(cls);
    expect(built).toStrictEqual(expected); // same classes, same own properties, recursively
    expect(copy).toEqual(data); // what it was given is left as it was (it is the stored copy)
  });

  it('shares plain-data values with the data instead of copying them (that is what makes it linear)', () => {
    const data = { count: 1, items: [{ name: 'a', meta: { big: [1, 2, 3] } }], extra: { x: { y: 1 } } };
    const built = toInputInstance(Order, data) as Order & { extra: unknown };
    expect(built.extra).toBe(data.extra);
    expect(built.items[0]).toBeInstanceOf(Item);
    expect(built.items[0]!.meta).toBe(data.items[0]!.meta);
  });

  it('keeps the work per key constant: 100,000 keys under @IsObject() are assigned, not walked', () => {
    let reads = 0;
    const data: Record<string, unknown> = {};
    const big = wide(100_000);
    Object.defineProperty(data, 'data', {
      enumerable: true,
      get() {
        reads++;
        return big;
      },
    });
    const built = toInputInstance(Free, data) as Free;
    expect(built.data).toBe(big);
    expect(reads).toBe(1);
  });
});
