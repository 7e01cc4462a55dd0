/**
 * Polls `check` every 10 ms until it holds; throws after `timeoutMs` (a margin for a busy machine,
 * not a latency the contract promises: those are the bench's).
 */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
