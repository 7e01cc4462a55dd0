/**
 * What the leak guard (leak-guard.ts) lets a test file leave open, each with the reason. Keep it
 * short and narrow: an entry matches one known thing by where it was made, never a whole kind.
 */
export interface AllowedLeak {
  /** what it is and why it may outlive the file */
  why: string;
  /** true for a timer, given the stack of the call that made it, that this entry allows */
  timer?(stack: string): boolean;
  /** true for a handle (socket, server, child process) that this entry allows */
  handle?(handle: unknown): boolean;
}

export const LEAK_ALLOWED: AllowedLeak[] = [];
