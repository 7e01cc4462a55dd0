/** string order of ids (ids are time-ordered strings) */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** index of the first element >= value */
export function lowerBound(sorted: string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ids nearly always arrive in increasing order: append, else a binary insert (never twice: a removed run's id may linger) */
export function insertSorted(sorted: string[], id: string): void {
  const n = sorted.length;
  if (n === 0 || sorted[n - 1] < id) {
    sorted.push(id);
    return;
  }
  const at = lowerBound(sorted, id);
  if (sorted[at] !== id) sorted.splice(at, 0, id);
}
