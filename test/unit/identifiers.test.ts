import { InvalidIdentifierError, TaskDefinitionError, TasklaneError } from '../../src/api/errors';
import { TASK_ID_PATTERN, assertIdempotencyKey, assertRunId, assertRunName, assertTaskId } from '../../src/core/validation/identifiers';
import { newRunId } from '../../src/util/ids';

const TEN_KB = 'a'.repeat(10 * 1024);

/** The error `fn` throws. */
function thrown(fn: () => unknown): TasklaneError {
  try {
    fn();
  } catch (err) {
    expect(TasklaneError.is(err)).toBe(true);
    return err as TasklaneError;
  }
  throw new Error('expected an error, nothing was thrown');
}

/** S05's hostile table, shared by every identifier kind. */
const INJECTION: Array<[string, string]> = [
  ['a colon alone', ':'],
  ['a star', '*'],
  ['a brace', '{'],
  ['SQL injection', "'; drop table t;--"],
  ['path traversal', '../'],
  ['path traversal with a name', '../etc/passwd'],
  ['NUL', '\u0000'],
  ['NUL inside', 'a\u0000b'],
  ['a 10 kB string', TEN_KB],
];

describe('assertTaskId', () => {
  it('uses the pattern of API.md', () => {
    expect(TASK_ID_PATTERN.source).toBe('^[A-Za-z0-9][A-Za-z0-9._:-]*$');
  });

  it.each(['users.import', 'a', 'A1', 'billing:invoice-send_v2', 'x'.repeat(128), 'Constructor', 'inline2', '0'])('accepts %j', (id) => {
    expect(assertTaskId(id)).toBe(id);
  });

  it.each<[string, unknown]>([
    ...INJECTION,
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a star pattern', 'users.*'],
    ['a brace inside', 'a{b}'],
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['a newline', 'a\nb'],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-x'],
    ['a leading underscore', '_x'],
    ['a non-ASCII letter', 'é'],
    ['unicode digits', '١٢٣'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['prototype', 'prototype'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['valueOf', 'valueOf'],
    ['isPrototypeOf', 'isPrototypeOf'],
    ['inline (the runInline definition)', 'inline'],
    ['a number', 123],
    ['null', null],
    ['undefined', undefined],
    ['an object', {}],
    ['an array', ['a']],
  ])('refuses %s with TASK_NAME_INVALID', (_label, id) => {
    const err = thrown(() => assertTaskId(id));
    expect(err).toBeInstanceOf(TaskDefinitionError);
    expect(err.code).toBe('TASK_NAME_INVALID');
    expect(err.message.length).toBeLessThan(300); // never echoes 10 kB back
    expect(err.message).not.toContain('\u0000');
  });
});

describe('assertIdempotencyKey', () => {
  it.each<[string, string]>([
    ['a simple key', 'k1'],
    ['a namespaced key (values are bound parameters, never spliced)', 'order:42'],
    ['an e-mail', 'someone@example.com'],
    ['quotes and semicolons (stored verbatim, never spliced)', "'; drop table t;--"],
    ['stars and braces (adapters keep keys inside their own prefix)', '{a}*'],
    ['512 ASCII bytes', 'x'.repeat(512)],
    ['512 bytes of 2-byte characters', 'é'.repeat(256)],
    ['512 bytes of 4-byte characters', '😀'.repeat(128)],
  ])('accepts %s', (_label, key) => {
    expect(assertIdempotencyKey(key)).toBe(key);
  });

  it.each<[string, unknown]>([
    ['NUL', '\u0000'],
    ['NUL inside', 'a\u0000b'],
    ['a 10 kB string', TEN_KB],
    ['a 10 MB string', 'a'.repeat(10 * 1024 * 1024)],
    ['empty', ''],
    ['513 bytes', 'x'.repeat(513)],
    ['514 bytes in 257 characters', 'é'.repeat(257)],
    ['a newline', 'a\nb'],
    ['a tab', 'a\tb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u0085b'],
    ['a lone surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udc00'],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => 'k' }],
  ])('refuses %s with IDENTIFIER_INVALID', (_label, key) => {
    const err = thrown(() => assertIdempotencyKey(key));
    expect(err).toBeInstanceOf(InvalidIdentifierError);
    expect(err.code).toBe('IDENTIFIER_INVALID');
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('assertRunName', () => {
  it.each(['My run', 'import #42: users (CRM)', 'x'.repeat(256), 'Ünïcödé 😀'])('accepts %j', (name) => {
    expect(assertRunName(name)).toBe(name);
  });

  it.each<[string, unknown]>([
    ['empty', ''],
    ['257 characters', 'x'.repeat(257)],
    ['a 10 kB string', TEN_KB],
    ['NUL', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['an escape sequence', '\u001b[31mred'],
    ['a lone surrogate', '\ud800'],
    ['a number', 5],
    ['undefined', undefined],
  ])('refuses %s with IDENTIFIER_INVALID', (_label, name) => {
    const err = thrown(() => assertRunName(name));
    expect(err).toBeInstanceOf(InvalidIdentifierError);
    expect(err.code).toBe('IDENTIFIER_INVALID');
  });
});

describe('assertRunId', () => {
  it('accepts the ids tasklane makes', () => {
    const id = newRunId();
    expect(assertRunId(id)).toBe(id);
  });

  it.each(['abc', 'ABC_def-123', 'x'.repeat(128)])('accepts %j', (id) => {
    expect(assertRunId(id)).toBe(id);
  });

  it.each<[string, unknown]>([
    ...INJECTION,
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a colon inside', 'a:b'],
    ['a space', 'a b'],
    ['a dot', 'a.b'],
    ['a number', 1],
    ['null', null],
  ])('refuses %s with IDENTIFIER_INVALID', (_label, id) => {
    const err = thrown(() => assertRunId(id));
    expect(err).toBeInstanceOf(InvalidIdentifierError);
    expect(err.code).toBe('IDENTIFIER_INVALID');
    expect(err.message.length).toBeLessThan(300);
  });
});
