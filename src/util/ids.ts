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

/**
 * A time-ordered id (26 chars): 10 chars of epoch ms, 8 of a per-process tag, 8 of a counter.
 * Ids made by one process sort in creation order, so `id` order is trigger order; ids of
 * different processes sort by millisecond. Lexicographic order = numeric order (fixed width).
 */
export function newRunId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
  } else {
    counter++;
  }
  return encode(lastMs, 10) + processTag + encode(counter, 8);
}

export function newToken(): string {
  return randomBytes(12).toString('base64url');
}
