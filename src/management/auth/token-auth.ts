import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../../api/errors';
import { roleRank, type AuthFunction, type Principal, type Role } from './principal';

export interface TokenEntry {
  /** the bearer token (at least 16 characters) */
  token: string;
  role: Role;
  /** shown in logs and `me` */
  name?: string;
  /** restricts the principal to runs whose `context.tenant` is this */
  tenant?: string;
  /** ISO 8601 or a Date: the token answers 401 from then on */
  expiresAt?: string | Date;
}

interface KnownToken {
  digest: Buffer;
  principal: Principal;
  expiresAtMs: number;
}

const MIN_TOKEN_LENGTH = 16;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Bearer-token authentication: `Authorization: Bearer <token>` names one of the configured tokens.
 * Tokens are compared by their SHA-256 digests in constant time (no early exit that would tell how
 * much of a guess matched); an unknown, malformed or expired token is unauthenticated (null).
 * A bad configuration throws InvalidArgumentError at once rather than letting everybody in later.
 */
export function tokenAuth(options: { tokens: TokenEntry[] }): AuthFunction {
  if (!options || !Array.isArray(options.tokens) || options.tokens.length === 0) {
    throw new InvalidArgumentError('tokenAuth(): `tokens` must be a non-empty array of { token, role, name?, tenant?, expiresAt? }');
  }
  const known: KnownToken[] = options.tokens.map((entry, i) => {
    if (typeof entry?.token !== 'string' || entry.token.length < MIN_TOKEN_LENGTH) {
      throw new InvalidArgumentError(`tokenAuth(): tokens[${i}].token must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
    }
    if (roleRank(entry.role) < 0) throw new InvalidArgumentError(`tokenAuth(): tokens[${i}].role must be viewer, operator or admin`);
    if (entry.tenant !== undefined && (typeof entry.tenant !== 'string' || entry.tenant === '')) {
      throw new InvalidArgumentError(`tokenAuth(): tokens[${i}].tenant must be a non-empty string`);
    }
    let expiresAtMs = Infinity;
    if (entry.expiresAt !== undefined) {
      expiresAtMs = entry.expiresAt instanceof Date ? entry.expiresAt.getTime() : Date.parse(entry.expiresAt);
      if (!Number.isFinite(expiresAtMs)) throw new InvalidArgumentError(`tokenAuth(): tokens[${i}].expiresAt is not a date`);
    }
    const principal: Principal = { name: entry.name ?? `token ${i + 1}`, role: entry.role };
    if (entry.tenant !== undefined) principal.tenant = entry.tenant;
    return { digest: digest(entry.token), principal, expiresAtMs };
  });
  return (req: IncomingMessage) => {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return null;
    const m = /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(header);
    if (!m) return null;
    const presented = digest(m[1]);
    let found: KnownToken | undefined;
    // every token is compared (no early exit)
    for (const k of known) if (timingSafeEqual(k.digest, presented) && !found) found = k;
    if (!found || Date.now() >= found.expiresAtMs) return null;
    return { ...found.principal };
  };
}
