import type { RunError } from '../api/types';
import { TasklaneError } from '../api/errors';

const MAX_MESSAGE = 4000;

function safeData(data: unknown): unknown {
  if (data === undefined) return undefined;
  try {
    const text = JSON.stringify(data);
    if (text === undefined || text.length > 64 * 1024) return undefined;
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Normalises anything thrown or answered into the stored `{ message, code?, data?, stack? }`. */
export function coerceError(value: unknown): RunError {
  if (value instanceof Error || TasklaneError.is(value)) {
    const err = value as Error & { code?: unknown; data?: unknown };
    const out: RunError = { message: String(err.message ?? 'Error').slice(0, MAX_MESSAGE) };
    if (typeof err.code === 'string' || typeof err.code === 'number') out.code = String(err.code);
    const data = safeData(err.data);
    if (data !== undefined) out.data = data;
    if (typeof err.stack === 'string') out.stack = err.stack.slice(0, MAX_MESSAGE * 2);
    return out;
  }
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    const v = value as { message: string; code?: unknown; data?: unknown };
    const out: RunError = { message: v.message.slice(0, MAX_MESSAGE) };
    if (typeof v.code === 'string' || typeof v.code === 'number') out.code = String(v.code);
    const data = safeData(v.data);
    if (data !== undefined) out.data = data;
    return out;
  }
  return { message: String(value).slice(0, MAX_MESSAGE) };
}

export function runError(message: string, code: string, data?: unknown): RunError {
  return data === undefined ? { message, code } : { message, code, data };
}
