import type { IncomingMessage } from 'node:http';

/** The roles of the management API, weakest first (MANAGEMENT.md section 3). */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who calls the management API. A principal with a `tenant` sees only runs whose `context.tenant` is it. */
export interface Principal {
  name: string;
  role: Role;
  tenant?: string;
}

/**
 * How the management server learns who calls: given Node's request, the principal, or null for
 * "unauthenticated" (401). Plug in the host's own sessions here; `tokenAuth()` is the bearer-token one.
 * A function that throws fails the request (500, logged): the API never falls open.
 */
export type AuthFunction = (req: IncomingMessage) => Principal | null | Promise<Principal | null>;

/** the rank of a role (higher may more); -1 for anything that is not a role */
export function roleRank(role: unknown): number {
  return ROLES.indexOf(role as Role);
}

/** whether `principal` holds at least `needed` */
export function mayAct(principal: Principal, needed: Role): boolean {
  const rank = roleRank(principal.role);
  return rank >= 0 && rank >= roleRank(needed);
}
