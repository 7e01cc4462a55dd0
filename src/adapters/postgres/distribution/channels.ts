import { createHash } from 'node:crypto';

/** The NOTIFY channels of one schema. */
export interface Channels {
  wake: string;
  abort: string;
  finish: string;
  restart: string;
  /** live run events (see EventRelay) */
  events: string;
  /** which nodes want live run events (see EventRelay) */
  interest: string;
}

export function channelsFor(schema: string): Channels {
  const named = (prefix: string): Channels => ({
    wake: `${prefix}.wake`,
    abort: `${prefix}.abort`,
    finish: `${prefix}.finish`,
    restart: `${prefix}.restart`,
    events: `${prefix}.events`,
    interest: `${prefix}.interest`,
  });
  // PostgreSQL truncates channel names to 63 bytes: a long schema gets hashed names instead
  const readable = named(schema);
  if (readable.interest.length <= 63) return readable;
  const hashed = named(`tl_${createHash('sha1').update(schema).digest('hex').slice(0, 16)}`);
  // the channels that existed before live events keep the names they had (nodes of both versions
  // hear each other during an upgrade); the two newer ones take the hashed name when they must
  return readable.restart.length <= 63 ? { ...readable, events: hashed.events, interest: hashed.interest } : hashed;
}
