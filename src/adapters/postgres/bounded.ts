/**
 * Bounded "recently seen" collections for the PostgreSQL adapter: two generations, the older one
 * dropped as a whole when the newer fills up, so each operation is O(1).
 *
 * (Evicting the oldest entry of one JS Set or Map one at a time — `values().next()` then
 * `delete` — is quadratic: iteration skips over every entry deleted at the front. With 100,000
 * entries that is ~15 us per insertion.)
 */
export class RecentSet {
  private current = new Set<string>();
  private previous = new Set<string>();

  /** keeps at least the last `max / 2` and at most `max` values */
  constructor(private readonly max: number) {}

  has(value: string): boolean {
    return this.current.has(value) || this.previous.has(value);
  }

  add(value: string): void {
    if (this.has(value)) return;
    if (this.current.size >= this.max / 2) {
      this.previous = this.current;
      this.current = new Set();
    }
    this.current.add(value);
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}

export class RecentMap<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();

  /** keeps at least the last `max / 2` and at most `max` entries */
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const v = this.current.get(key);
    return v !== undefined ? v : this.previous.get(key);
  }

  set(key: string, value: V): void {
    this.previous.delete(key);
    if (!this.current.has(key) && this.current.size >= this.max / 2) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }

  delete(key: string): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}
