import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case
const processTag = encode(randomBytes(5).readUIntBE(0, 5), 8);
let lastMs = 0;
let counter = 0;

function encode(value: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** the id's first 18 characters for `lastMs`: made once per millisecond */
let prefix = '';
/** every pair of characters: 10 bits of the counter at a time */
const PAIRS: string[] = Array.from({ length: 1024 }, (_, i) => ALPHABET[i >> 5] + ALPHABET[i & 31]);

/**
 * A time-ordered id (26 chars): 10 chars of epoch ms, 8 of a per-process tag, 8 of a counter.
 * Ids made by one process sort in creation order, so `id` order is trigger order; ids of
 * different processes sort by millisecond. Lexicographic order = numeric order (fixed width).
 * Made on every trigger: the prefix is kept per millisecond and the counter is encoded two
 * characters at a time (one string of 26 rather than 18 intermediate ones).
 */
export function newRunId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
    prefix = '';
  } else {
    counter++;
  }
  if (prefix === '') prefix = encode(lastMs, 10) + processTag;
  const c = counter;
  // 40 bits of counter: 8 characters, most significant first (c < 2^40 in any real process)
  const hi = Math.floor(c / 0x100000);
  // the 8-character tail is made first: strings under 13 characters are flat, so the id is one
  // cons of two flat strings rather than a chain of four (each kept as long as the run is)
  const tail = PAIRS[(hi >> 10) & 1023] + PAIRS[hi & 1023] + PAIRS[(c >> 10) & 1023] + PAIRS[c & 1023];
  return prefix + tail;
}

const tokenTag = randomBytes(9).toString('base64url');
let tokens = 0;

/**
 * A lease token base, unique across processes (a random tag of this process) and calls (a
 * counter). Tokens fence stale writers, they guard nothing secret: a counter does, where
 * randomBytes per claim cost a few µs each.
 */
export function newToken(): string {
  return tokenTag + (++tokens).toString(36) + '.';
}
