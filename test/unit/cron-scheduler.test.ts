import * as nodeCron from 'node-cron';
import { CronInvalidError, TasklaneError } from '../../src/api/errors';
import { CronScheduler, MAX_CRON_EXPRESSION_LENGTH, cronScheduler, parseCronExpression } from '../../src/adapters/cron/cron-scheduler';

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** The error `fn` throws, which must be a CronInvalidError. */
function refusal(fn: () => unknown): CronInvalidError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CronInvalidError);
    expect(TasklaneError.is(err)).toBe(true);
    expect((err as CronInvalidError).code).toBe('CRON_INVALID');
    return err as CronInvalidError;
  }
  throw new Error('expected a CronInvalidError, nothing was thrown');
}

let scheduler: CronScheduler;
beforeEach(() => {
  scheduler = cronScheduler();
});
afterEach(() => {
  scheduler.stopAll();
});

describe('validate() refuses malformed expressions, naming the field (S04)', () => {
  it.each<[string, string, RegExp]>([
    ['4 fields', '* * * *', /expression: expected 5 fields .* got 4/],
    ['7 fields', '0 0 0 12 * * 2024', /expression: .* got 7/],
    ['6 fields where the 6th is a year, not seconds first', '0 0 12 * * 2024', /day of week field "2024": 2024 is out of range 0-7/],
    ['minute 61', '61 * * * *', /minute field "61": 61 is out of range 0-59/],
    ['second 60', '60 * * * * *', /second field "60"/],
    ['hour 24', '0 24 * * *', /hour field "24"/],
    ['day of month 0', '0 0 0 * *', /day of month field "0"/],
    ['day of month 32', '0 0 32 * *', /day of month field "32"/],
    ['month 13', '0 0 1 13 *', /month field "13"/],
    ['month 0', '0 0 1 0 *', /month field "0"/],
    ['day of week 8', '0 0 * * 8', /day of week field "8"/],
    ['step 0', '*/0 * * * *', /minute field "\*\/0": the step must be at least 1/],
    ['step 0 in a range', '0-30/0 * * * *', /minute field/],
    ['step 00', '*/00 * * * *', /minute field/],
    ['a step wider than the field', '*/61 * * * *', /minute field "\*\/61": the step must be at most 60/],
    ['Feb 31 (never fires)', '0 0 31 2 *', /day of month field "31": no such day in month field "2", the expression can never fire/],
    ['Feb 30 (never fires)', '0 0 30 2 *', /day of month .* never fire/],
    ['Apr 31 (never fires)', '0 0 31 4 *', /day of month .* never fire/],
    ['the 31st of 30-day months (never fires)', '0 0 31 apr,jun,sep,nov *', /day of month .* never fire/],
    ['Feb 30-31 with seconds (never fires)', '0 0 0 30-31 feb *', /day of month .* never fire/],
    ['@reboot', '@reboot', /expression: "@reboot" is not supported/],
    ['an unknown macro', '@every', /not supported/],
    ['@every 5m', '@every 5m', /not supported/],
    ['a 10 kB string', 'x'.repeat(10 * 1024), /longer than 256 characters/],
    ['10 kB of valid-looking fields', '* '.repeat(5 * 1024), /longer than 256 characters/],
    ['257 characters', `${'0,'.repeat(127)}0 * * * *`.padEnd(257, ' '), /longer than 256/],
    ['a huge range', '1-1000000 * * * *', /minute field "1-1000000": 100000\.\.\. is out of range 0-59/],
    ['a huge step', '*/1000000 * * * *', /minute field/],
    ['a huge number', '99999999999999999999 * * * *', /minute field .* out of range/],
    ['arabic-indic digits', '١ * * * *', /minute field "١": only ASCII digits/],
    ['arabic-indic digits in day of week', '0 0 * * ١', /day of week field "١"/],
    ['fullwidth digits', '０ * * * *', /minute field/],
    ['a tab between fields', '0\t0 * * *', /expression: .* got 4|minute field/],
    ['a newline at the end', '0 0 * * *\n', /day of week field/],
    ['an empty string', '', /expression: empty/],
    ['spaces only', '     ', /expression: empty/],
    ['an empty list item', '1,,2 * * * *', /minute field "1,,2": an item of the list is empty/],
    ['a leading comma', ',1 * * * *', /minute field/],
    ['a range with three ends', '1-2-3 * * * *', /minute field "1-2-3"/],
    ['two steps', '*/5/2 * * * *', /minute field "\*\/5\/2"/],
    ['a negative number', '-5 * * * *', /minute field "-5": a value is missing/],
    ['a range without an end', '5- * * * *', /minute field "5-"/],
    ['a step without a range', '5/15 * * * *', /minute field "5\/15": .*a step needs \* or a range/],
    ['a backwards range', '22-2 * * * *', /minute field "22-2": range "22-2" goes backwards/],
    ['L', '0 0 L * *', /day of month field "L"/],
    ['W', '0 0 15W * *', /day of month field "15W"/],
    ['nth weekday #', '0 0 * * 1#2', /day of week field "1#2"/],
    ['last weekday 5L', '0 0 * * 5L', /day of week field "5L"/],
    ['? in minutes', '? * * * *', /minute field "\?": "\?" is only allowed/],
    ['? inside a list', '0 0 1,? * *', /day of month field/],
    ['a star in a range', '0 0 1-* * *', /day of month field/],
    ['a month name in the hour field', '0 jan * * *', /hour field "jan": "jan" is not a number/],
    ['an unknown name', '0 0 * foo *', /month field "foo": "foo" is not a number or a name/],
    ['a full month name', '0 0 1 january *', /month field "january"/],
    ['a weekday name in the month field', '0 0 1 mon *', /month field "mon"/],
    ['a decimal', '1.5 * * * *', /minute field "1\.5"/],
    ['a plus sign', '+1 * * * *', /minute field "\+1"/],
    ['a percent-style template', '{{m}} * * * *', /minute field/],
  ])('%s: %j', (_label, expression, message) => {
    const err = refusal(() => scheduler.validate(expression));
    expect(err.message).toMatch(message);
    expect(err.message.length).toBeLessThan(400);
  });

  it.each<[string, unknown]>([
    ['a number', 5],
    ['null', null],
    ['undefined', undefined],
    ['an object', { toString: () => '* * * * *' }],
    ['an array', ['*', '*', '*', '*', '*']],
  ])('refuses %s as the expression', (_label, expression) => {
    const err = refusal(() => scheduler.validate(expression as string));
    expect(err.message).toMatch(/expression: expected a string/);
  });

  it.each<[string, unknown]>([
    ['an unknown zone', 'Mars/Olympus'],
    ['an empty string', ''],
    ['a number', 1],
    ['a very long string', 'Europe/'.padEnd(1000, 'x')],
  ])('refuses %s as the time zone', (_label, timezone) => {
    const err = refusal(() => scheduler.validate('0 0 * * *', timezone as string));
    expect(err.message).toMatch(/timezone: /);
  });
});

describe('validate() accepts valid expressions', () => {
  it.each<[string, string, string]>([
    ['every 10 seconds', '*/10 * * * * *', '0,10,20,30,40,50 * * * * *'],
    ['midnight', '0 0 * * *', '0 0 0 * * *'],
    ['9:00 on weekdays', '0 9 * * 1-5', '0 0 9 * * 1,2,3,4,5'],
    ['the leap day', '0 0 29 2 *', '0 0 0 29 2 *'],
    ['the 31st of every month that has one', '0 0 31 * *', '0 0 0 31 * *'],
    ['the 31st of January to April', '0 0 31 1-4 *', '0 0 0 31 1,2,3,4 *'],
    ['every second', '* * * * * *', '* * * * * *'],
    ['a list and a stepped range', '0-30/10,45 * * * *', '0 0,10,20,30,45 * * * *'],
    ['names', '0 0 * jan-mar MON-fri', '0 0 0 * 1,2,3 1,2,3,4,5'],
    ['7 is Sunday', '0 0 * * 7', '0 0 0 * * 0'],
    ['5-7 wraps Sunday to 0', '0 0 * * 5-7', '0 0 0 * * 0,5,6'],
    ['0-7 is every day', '0 0 * * 0-7', '0 0 0 * * *'],
    ['? for a day field', '0 0 ? * *', '0 0 0 * * *'],
    ['extra spaces', '  0   0  *  *  *  ', '0 0 0 * * *'],
    ['a step as wide as the field', '*/60 * * * *', '0 0 * * * *'],
    ['@hourly', '@hourly', '0 0 * * * *'],
    ['@daily', '@daily', '0 0 0 * * *'],
    ['@midnight', '@MIDNIGHT', '0 0 0 * * *'],
    ['@weekly', '@weekly', '0 0 0 * * 0'],
    ['@monthly', '@monthly', '0 0 0 1 * *'],
    ['@yearly', '@yearly', '0 0 0 1 1 *'],
    ['@annually', '@annually', '0 0 0 1 1 *'],
  ])('%s: %j', (_label, expression, canonical) => {
    expect(() => scheduler.validate(expression)).not.toThrow();
    const parsed = parseCronExpression(expression);
    expect(parsed.canonical).toBe(canonical);
    // what was validated is what node-cron runs: it must accept the canonical form
    expect(nodeCron.validate(parsed.canonical)).toBe(true);
  });

  it('accepts exactly 256 characters', () => {
    const expression = `${'0,'.repeat(120)}0 * * * *`.padEnd(MAX_CRON_EXPRESSION_LENGTH, ' ');
    expect(expression).toHaveLength(MAX_CRON_EXPRESSION_LENGTH);
    expect(() => scheduler.validate(expression)).not.toThrow();
  });

  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata'])('accepts the time zone %s', (tz) => {
    expect(() => scheduler.validate('0 9 * * 1-5', tz)).not.toThrow();
  });

  it('parses the fields (Sunday = 0, 5 fields = second 0)', () => {
    const p = parseCronExpression('30 9 1,15 */3 sun,sat');
    expect(p).toMatchObject({
      hasSeconds: false,
      second: [0],
      minute: [30],
      hour: [9],
      dayOfMonth: [1, 15],
      month: [1, 4, 7, 10],
      dayOfWeek: [0, 6],
    });
  });
});

describe('schedule()', () => {
  it('refuses an invalid expression and registers nothing', () => {
    const before = nodeCron.getTasks().size;
    refusal(() => scheduler.schedule('t', '0 0 31 2 *', () => undefined));
    refusal(() => scheduler.schedule('t', '* * * * *', () => undefined, 'Mars/Olympus'));
    expect(scheduler.size).toBe(0);
    expect(nodeCron.getTasks().size).toBe(before);
  });

  it('ticks every second with the scheduled time truncated to the second', async () => {
    const ticks: Array<{ tick: Date; at: number }> = [];
    await new Promise<void>((resolve) => {
      scheduler.schedule('every-second', '* * * * * *', (tick) => {
        ticks.push({ tick, at: Date.now() });
        if (ticks.length === 2) resolve();
      });
    });
    scheduler.stopAll();
    for (const { tick, at } of ticks) {
      expect(tick).toBeInstanceOf(Date);
      expect(tick.getTime() % 1000).toBe(0);
      expect(tick.getTime()).toBeLessThanOrEqual(at);
      expect(at - tick.getTime()).toBeLessThan(1000);
    }
    expect(ticks[1]!.tick.getTime() - ticks[0]!.tick.getTime()).toBe(1000);
  }, 10_000);

  it('ticks on whole seconds in a time zone with a half-hour offset', async () => {
    const tick = await new Promise<Date>((resolve) => {
      scheduler.schedule('tz', '* * * * * *', resolve, 'Asia/Kolkata');
    });
    expect(tick.getTime() % 1000).toBe(0);
  }, 10_000);

  it('survives an onTick that throws or rejects, reporting it to the logger', async () => {
    const errors: string[] = [];
    const s = cronScheduler({ logger: { warn: () => undefined, error: (m: string) => errors.push(m) } });
    try {
      let calls = 0;
      await new Promise<void>((resolve) => {
        s.schedule('boom', '* * * * * *', () => {
          calls++;
          if (calls === 1) throw new Error('sync boom');
          resolve();
          return Promise.reject(new Error('async boom')) as unknown as void;
        });
      });
      await new Promise((r) => setImmediate(r));
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/onTick of "boom" failed/);
    } finally {
      s.stopAll();
    }
  }, 10_000);

  it('delivers nothing after stop(), and stop() is idempotent', async () => {
    const onTick = jest.fn();
    const job = scheduler.schedule('stopped', '* * * * * *', onTick);
    const other = scheduler.schedule('other', '0 0 1 1 *', () => undefined);
    job.stop();
    job.stop();
    expect(scheduler.size).toBe(1);
    await new Promise((r) => setTimeout(r, 1200));
    expect(onTick).not.toHaveBeenCalled();
    other.stop();
    expect(scheduler.size).toBe(0);
  }, 10_000);

  it("stopAll() leaves no timer behind and empties node-cron's registry", async () => {
    const tasksBefore = nodeCron.getTasks().size;
    const timersBefore = timeouts();
    for (let i = 0; i < 5; i++) scheduler.schedule(`job-${i}`, '* * * * * *', () => undefined);
    scheduler.schedule('daily', '0 0 * * *', () => undefined, 'Europe/Paris');
    expect(timeouts()).toBeGreaterThan(timersBefore);
    expect(nodeCron.getTasks().size).toBe(tasksBefore + 6);
    scheduler.stopAll();
    await new Promise((r) => setImmediate(r));
    expect(timeouts()).toBeLessThanOrEqual(timersBefore);
    expect(nodeCron.getTasks().size).toBe(tasksBefore);
    expect(scheduler.size).toBe(0);
    scheduler.stopAll(); // idempotent
  });

  it('is a Scheduler made by cronScheduler()', () => {
    expect(cronScheduler()).toBeInstanceOf(CronScheduler);
  });
});

describe('ScheduledJob.ticksBetween()', () => {
  const iso = (d: Date) => d.toISOString();

  it('lists the ticks strictly after `after` and at most `until`, ascending, at most `max`', () => {
    const job = scheduler.schedule('hourly', '0 * * * *', () => undefined);
    expect(job.resolutionMs).toBe(60_000);
    const ticks = job.ticksBetween(new Date('2026-03-01T10:00:00.000Z'), new Date('2026-03-01T13:00:00.000Z'), 100);
    expect(ticks.map(iso)).toEqual(['2026-03-01T11:00:00.000Z', '2026-03-01T12:00:00.000Z', '2026-03-01T13:00:00.000Z']);
    expect(job.ticksBetween(new Date('2026-03-01T10:00:00.000Z'), new Date('2026-03-01T13:00:00.000Z'), 2).map(iso)).toEqual([
      '2026-03-01T11:00:00.000Z',
      '2026-03-01T12:00:00.000Z',
    ]);
    expect(job.ticksBetween(new Date('2026-03-01T10:59:59.999Z'), new Date('2026-03-01T11:00:00.000Z'), 10).map(iso)).toEqual(['2026-03-01T11:00:00.000Z']);
    expect(job.ticksBetween(new Date('2026-03-01T11:00:00.000Z'), new Date('2026-03-01T11:59:59.000Z'), 10)).toEqual([]);
  });

  it('steps by seconds for an expression with a seconds field', () => {
    const job = scheduler.schedule('every-15s', '*/15 * * * * *', () => undefined);
    expect(job.resolutionMs).toBe(1000);
    expect(job.ticksBetween(new Date('2026-03-01T10:00:00.500Z'), new Date('2026-03-01T10:01:00.000Z'), 10).map(iso)).toEqual([
      '2026-03-01T10:00:15.000Z',
      '2026-03-01T10:00:30.000Z',
      '2026-03-01T10:00:45.000Z',
      '2026-03-01T10:01:00.000Z',
    ]);
  });

  it('reads the expression in its time zone, as the timer does', () => {
    const job = scheduler.schedule('india-9am', '0 9 * * *', () => undefined, 'Asia/Kolkata');
    expect(job.ticksBetween(new Date('2026-03-01T00:00:00.000Z'), new Date('2026-03-03T00:00:00.000Z'), 10).map(iso)).toEqual([
      '2026-03-01T03:30:00.000Z',
      '2026-03-02T03:30:00.000Z',
    ]);
  });

  it('is empty for invalid dates', () => {
    const job = scheduler.schedule('m', '* * * * *', () => undefined);
    expect(job.ticksBetween(new Date(Number.NaN), new Date(), 10)).toEqual([]);
  });
});
