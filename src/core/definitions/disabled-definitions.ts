import type { RunStorage } from '../../ports/storage';
import type { StorageGate } from '../runtime/storage-gate';

/** The ids of the disabled definitions, read from storage and kept a short while. */
export class DisabledDefinitions {
  private cache?: { at: number; ids: Set<string> };

  constructor(
    private readonly storage: RunStorage,
    private readonly gate: StorageGate,
  ) {}

  async ids(maxAgeMs = 250): Promise<Set<string>> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < maxAgeMs) return this.cache.ids;
    await this.gate.ready();
    const ids = await this.storage.getDisabledDefinitions();
    this.cache = { at: now, ids };
    return ids;
  }

  invalidate(): void {
    this.cache = undefined;
  }
}
