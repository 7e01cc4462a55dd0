/**
 * Byte order of UTF-8 text, i.e. code point order: the "C" collation of the id columns (claims
 * return runs in it, and rows are locked in it). UTF-16 code unit order (`<`) differs only where
 * a surrogate (a code point above U+FFFF) meets a code unit from U+E000 up.
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys && (xs ? y >= 0xe000 : x >= 0xe000)) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
