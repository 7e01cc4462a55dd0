import { InvalidArgumentError } from '../../src';
import { checkRetryPolicy, refusesRetry, retryDelay } from '../../src/core/execution/retry-policy';
import { MAX_DURATION_MS } from '../../src/util/duration';

describe('retry policy', () => {
  it('keeps only the known fields of a valid policy (a copy, not the caller object)', () => {
    const given = { attempts: 4, backoff: { type: 'exponential' as const, delay: 100, maxDelay: 1000, jitter: true } };
    const checked = checkRetryPolicy(given);
    expect(checked).toEqual(given);
    expect(checked).not.toBe(given);
    expect(checked.backoff).not.toBe(given.backoff);
    expect(checkRetryPolicy({ attempts: 1 })).toEqual({ attempts: 1 });
    expect(checkRetryPolicy(Object.assign(Object.create(null), { attempts: 2 }))).toEqual({ attempts: 2 });
  });

  it.each([
    ['not an object', 3],
    ['an array', [3]],
    ['a class instance', new Date()],
    ['no attempts', {}],
    ['zero attempts', { attempts: 0 }],
    ['fractional attempts', { attempts: 2.5 }],
    ['unsafe attempts', { attempts: 2 ** 60 }],
    ['a string', { attempts: '3' }],
    ['an unknown key (a typo)', { attempts: 3, backof: { type: 'fixed', delay: 1 } }],
    ['a backoff that is not an object', { attempts: 3, backoff: 'fixed' }],
    ['an unknown backoff type', { attempts: 3, backoff: { type: 'linear', delay: 1 } }],
    ['an unknown backoff key', { attempts: 3, backoff: { type: 'fixed', delay: 1, factor: 2 } }],
    ['a missing delay', { attempts: 3, backoff: { type: 'fixed' } }],
    ['a negative delay', { attempts: 3, backoff: { type: 'fixed', delay: -1 } }],
    ['an infinite delay', { attempts: 3, backoff: { type: 'fixed', delay: Infinity } }],
    ['a NaN maxDelay', { attempts: 3, backoff: { type: 'fixed', delay: 1, maxDelay: NaN } }],
    ['a delay over 10 years', { attempts: 3, backoff: { type: 'fixed', delay: MAX_DURATION_MS + 1 } }],
    ['a string jitter', { attempts: 3, backoff: { type: 'fixed', delay: 1, jitter: 'true' } }],
  ])('refuses %s with InvalidArgumentError', (_what, value) => {
    expect(() => checkRetryPolicy(value, 'trigger(): retry')).toThrow(InvalidArgumentError);
    expect(() => checkRetryPolicy(value, 'trigger(): retry')).toThrow(/trigger\(\): retry/);
  });

  it('waits nothing without a backoff, the delay with a fixed one', () => {
    expect(retryDelay({ attempts: 5 }, 1)).toBe(0);
    expect(retryDelay({ attempts: 5, backoff: { type: 'fixed', delay: 250 } }, 1)).toBe(250);
    expect(retryDelay({ attempts: 5, backoff: { type: 'fixed', delay: 250 } }, 4)).toBe(250);
    expect(retryDelay({ attempts: 5, backoff: { type: 'fixed', delay: 250, maxDelay: 100 } }, 1)).toBe(100);
  });

  it('doubles an exponential backoff at each retry (delay * 2^(n-1)), capped by maxDelay, and never past 10 years', () => {
    const policy = { attempts: 10, backoff: { type: 'exponential' as const, delay: 100, maxDelay: 1000 } };
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const uncapped = { attempts: 5000, backoff: { type: 'exponential' as const, delay: 1000 } };
    expect(retryDelay(uncapped, 2)).toBe(2000);
    expect(retryDelay(uncapped, 2000)).toBe(MAX_DURATION_MS); // 2^1999 is Infinity: the cap holds
  });

  it('jitter draws each wait between half of it and all of it', () => {
    const policy = { attempts: 5, backoff: { type: 'exponential' as const, delay: 1000, jitter: true } };
    expect(retryDelay(policy, 3, () => 0)).toBe(2000);
    expect(retryDelay(policy, 3, () => 0.5)).toBe(3000);
    expect(retryDelay(policy, 3, () => 0.999999)).toBeCloseTo(4000, 0);
    for (let i = 0; i < 200; i++) {
      const d = retryDelay(policy, 1);
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(1000);
    }
  });

  it('an error with retryable: false refuses a retry; anything else, even unreadable, does not', () => {
    expect(refusesRetry(Object.assign(new Error('x'), { retryable: false }))).toBe(true);
    expect(refusesRetry({ message: 'x', retryable: false })).toBe(true);
    expect(refusesRetry({ message: 'x', retryable: true })).toBe(false);
    expect(refusesRetry(new Error('x'))).toBe(false);
    expect(refusesRetry('a string')).toBe(false);
    expect(refusesRetry(null)).toBe(false);
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('trap');
        },
      },
    );
    expect(refusesRetry(hostile)).toBe(false);
  });
});
