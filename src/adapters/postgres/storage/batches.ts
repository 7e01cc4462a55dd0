/** rows of one batch statement, at most */
export const MAX_BATCH_ROWS = 2000;
/** serialized size of one batch statement's parameters, about */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Splits items into chunks of at most `maxItems` and about `maxBytes` of serialized size. */
export function chunkBySize<T>(items: T[], sizeOf: (item: T) => number, maxItems: number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
