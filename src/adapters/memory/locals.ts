import type { LocalEntry, LocalWrite, LocalWriteResult } from '../../ports/storage';
import { cloneJson } from './clone-json';
import type { MemoryIndex } from './memory-index';

// A definition's locals: versioned values, written compare-and-set, refused to a run from before
// a restart of the definition.

export function readLocal(index: MemoryIndex, definitionId: string, key: string): LocalEntry {
  const entry = index.locals.get(definitionId)?.get(key);
  if (!entry) return { value: undefined, version: 0 };
  return { value: entry.value === undefined ? undefined : cloneJson(entry.value), version: entry.version };
}

export function writeLocal(index: MemoryIndex, write: LocalWrite): LocalWriteResult {
  const value = cloneJson(write.value); // normalised first: a value JSON cannot hold writes nothing
  const cutoff = index.cutoffs.get(write.definitionId);
  if (write.writerRunId !== undefined && cutoff !== undefined && write.writerRunId < cutoff) return { ok: false, reason: 'restarted' };
  let map = index.locals.get(write.definitionId);
  const entry = map?.get(write.key);
  const version = entry?.version ?? 0;
  if (write.expectedVersion !== undefined && write.expectedVersion !== version) return { ok: false, reason: 'conflict' };
  if (!map) index.locals.set(write.definitionId, (map = new Map()));
  map.set(write.key, { value, version: version + 1 });
  return { ok: true, version: version + 1 };
}

export function listLocals(index: MemoryIndex, definitionId: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, entry] of index.locals.get(definitionId) ?? []) if (entry.value !== undefined) out.set(key, cloneJson(entry.value));
  return out;
}
