import { InvalidArgumentError } from '../../api/errors';

/** the page size of a list query: 50 by default, at least 1 */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 50;
  return Math.max(1, Math.floor(limit));
}

/** a log cursor: the sequence number of the last line of the previous page */
export function parseLogCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw new InvalidArgumentError(`Invalid log cursor "${cursor.slice(0, 40)}".`);
  return Number(cursor);
}
