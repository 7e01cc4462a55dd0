import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsInt, IsNumber, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { toInputInstance } from '../src/core/validation/input-instance';
import { prepareInput } from '../src/core/validation/input-validator';
import { DEFAULT_INPUT_LIMITS, deepFreeze, freezeJsonData } from '../src/core/validation/json-data';
import { percentile } from './stats';

/**
 * The CPU time trigger() spends accepting or refusing an input (prepareInput: the walk, the exact
 * size, the copy, the input class's instance, class-validator, freezing), with the default limits
 * (1 MiB, 64 levels, 10,000 keys and elements), for the worst shapes found: each is as large as
 * the limits allow, or just past one. And the cost of rebuilding the instance at each iteration.
 * Issue 8's target: under 50 ms for any of them.
 */

class Free {
  @IsOptional() @IsObject() data?: Record<string, unknown>;
  @IsOptional() @IsArray() list?: unknown[];
  @IsOptional() @IsString() text?: string;
}
class Numbers {
  @IsArray() @IsNumber({}, { each: true }) values!: number[];
}
class Strings {
  @IsArray() @IsString({ each: true }) values!: string[];
}
class Item {
  @IsString() name!: string;
  @IsInt() n!: number;
}
class Items {
  @IsArray() @ValidateNested({ each: true }) @Type(() => Item) items!: Item[];
}
class Node {
  @IsString() id!: string;
  @IsOptional() @ValidateNested() @Type(() => Node) child?: Node;
}
class Tree {
  @ValidateNested() @Type(() => Node) root!: Node;
}

const KEYS = DEFAULT_INPUT_LIMITS.maxKeys!;
const MiB = DEFAULT_INPUT_LIMITS.maxInputBytes;

function wide(n: number, key = (i: number) => i.toString(36)): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) o[key(i)] = 1;
  return o;
}

function deep(levels: number): Record<string, unknown> {
  let o: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) o = { a: o };
  return o;
}

function chain(levels: number): Record<string, unknown> {
  let node: Record<string, unknown> = { id: 'leaf' };
  for (let i = 1; i < levels; i++) node = { id: `n${i}`, child: node };
  return node;
}

interface Shape {
  name: string;
  cls: new () => object;
  input: () => unknown;
}

/** within every default limit: accepted (the cost of the largest inputs that pass) */
const ACCEPTED: Shape[] = [
  { name: `wide object, ${KEYS - 1} keys under @IsObject()`, cls: Free, input: () => ({ data: wide(KEYS - 1) }) },
  {
    name: `long array, ${KEYS - 1} numbers, @IsNumber({ each })`,
    cls: Numbers,
    input: () => ({ values: Array.from({ length: KEYS - 1 }, (_, i) => i * 1.000001) }),
  },
  {
    name: `many short strings, ${KEYS - 1}, @IsString({ each })`,
    cls: Strings,
    input: () => ({ values: Array.from({ length: KEYS - 1 }, (_, i) => `s${i}`) }),
  },
  {
    name: `nested DTO array, ${Math.floor((KEYS - 1) / 3)} DTOs`,
    cls: Items,
    input: () => ({ items: Array.from({ length: Math.floor((KEYS - 1) / 3) }, (_, i) => ({ name: `n${i}`, n: i })) }),
  },
  { name: 'nested DTOs, 63 levels', cls: Tree, input: () => ({ root: chain(62) }) },
  { name: 'deep nesting, 64 levels of plain data', cls: Free, input: () => ({ data: deep(63) }) },
  { name: 'long string, 1 MiB - 20 bytes', cls: Free, input: () => ({ text: 'x'.repeat(MiB - 20) }) },
  { name: 'long string of escapes, 1 MiB when escaped', cls: Free, input: () => ({ text: '"'.repeat(MiB / 2 - 20) }) },
  { name: `strings of 100 bytes, ${KEYS - 1} in a plain array`, cls: Free, input: () => ({ list: Array.from({ length: KEYS - 1 }, () => 'y'.repeat(100)) }) },
];

/** past a limit, or invalid after everything was looked at: refused */
const REFUSED: Shape[] = [
  { name: 'wide object, 100,000 keys under @IsObject() (~0.85 MB)', cls: Free, input: () => ({ data: wide(100_000) }) },
  { name: 'long array, 300,000 small numbers (1.9 MB)', cls: Numbers, input: () => ({ values: Array.from({ length: 300_000 }, (_, i) => i) }) },
  { name: 'long array, 500,000 one-digit numbers (< 1 MiB)', cls: Free, input: () => ({ list: new Array(500_000).fill(1) }) },
  { name: `one key too many, ${KEYS} keys`, cls: Free, input: () => ({ data: wide(KEYS) }) },
  { name: 'long string, 1 MiB + 1 byte', cls: Free, input: () => ({ text: 'x'.repeat(MiB) }) },
  { name: 'long string, 50 MiB', cls: Free, input: () => ({ text: 'x'.repeat(50 * MiB) }) },
  { name: 'deep nesting, 10,000 levels', cls: Free, input: () => ({ data: deep(10_000) }) },
  { name: `a function after ${KEYS - 2} valid keys`, cls: Free, input: () => ({ data: { ...wide(KEYS - 2), z: () => 1 } }) },
  {
    name: `nested DTO array, the last of ${Math.floor((KEYS - 1) / 3)} DTOs invalid`,
    cls: Items,
    input: () => ({
      items: Array.from({ length: Math.floor((KEYS - 1) / 3) }, (_, i) => ({ name: `n${i}`, n: i === Math.floor((KEYS - 1) / 3) - 1 ? 'x' : i })),
    }),
  },
  {
    name: `${KEYS - 1} numbers, the last a string`,
    cls: Numbers,
    input: () => ({ values: Array.from({ length: KEYS - 1 }, (_, i) => (i === KEYS - 2 ? 'x' : i)) }),
  },
];

const ROUNDS = 7;
/**
 * rounds not measured: process.cpuUsage() counts every thread, V8's optimising compiler and
 * concurrent GC included, and the first rounds of a shape compile the code it takes
 */
const WARM_UP = 3;

function cpuMs(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

function measure(shape: Shape): { p50: number; max: number; outcome: string; bytes: string } {
  const times: number[] = [];
  let outcome = 'accepted';
  let bytes = '';
  for (let round = 0; round < WARM_UP + ROUNDS; round++) {
    const input = shape.input(); // made outside the measure: a caller's object
    const ms = cpuMs(() => {
      try {
        prepareInput(shape.cls, input, DEFAULT_INPUT_LIMITS);
        outcome = 'accepted';
      } catch (err) {
        outcome = (err as { code?: string }).code ?? String(err);
      }
    });
    if (round >= WARM_UP) times.push(ms);
    if (round === 0) {
      try {
        const text = JSON.stringify(input);
        bytes = `${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB`;
      } catch {
        bytes = '-';
      }
    }
  }
  return { p50: percentile(times, 50), max: Math.max(...times), outcome, bytes };
}

/** what each iteration pays: the instance rebuilt from the stored input and frozen */
function rebuild(shape: Shape): number {
  const text = JSON.stringify(shape.input());
  const times: number[] = [];
  for (let round = 0; round < WARM_UP + ROUNDS; round++) {
    const stored = JSON.parse(text) as Record<string, unknown>; // as SQLite / PostgreSQL give it back
    const ms = cpuMs(() => deepFreeze(toInputInstance(shape.cls, freezeJsonData(stored))));
    if (round >= WARM_UP) times.push(ms);
  }
  return percentile(times, 50);
}

export function validationCost(): void {
  console.log(
    `\n== validation cost: CPU ms of trigger()'s input checks, default limits (1 MiB, 64 levels, ${KEYS} keys and elements), p50 / max of ${ROUNDS} after ${WARM_UP} warm-up rounds`,
  );
  let worst = 0;
  const row = (shape: Shape, extra = '') => {
    const m = measure(shape);
    worst = Math.max(worst, m.max);
    console.log(
      `  ${shape.name.padEnd(58)} ${m.bytes.padStart(9)}  ${m.outcome.padEnd(17)} ${m.p50.toFixed(1).padStart(6)} / ${m.max.toFixed(1).padStart(6)} ms${extra}`,
    );
  };
  console.log('  accepted (largest within the limits)                                                      p50 /    max, and the rebuild at each iteration');
  for (const shape of ACCEPTED) row(shape, `   rebuild ${rebuild(shape).toFixed(1)} ms`);
  console.log('  refused');
  for (const shape of REFUSED) row(shape);
  console.log(`  worst: ${worst.toFixed(1)} ms (target: under 50 ms)`);
}
