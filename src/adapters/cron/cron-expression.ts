import { CronInvalidError } from '../../api/errors';

/**
 * Cron expressions: the strict parser and validator in front of node-cron 4 (the scheduler that
 * runs them is cron-scheduler.ts).
 *
 * node-cron's own validation is too permissive for a fail-fast bootstrap (it accepts wrapped
 * ranges, L/W/# tokens, month names anywhere in a field, ...), so expressions go through the
 * strict parser below first. The parser produces a canonical expression (6 fields of plain
 * numbers or `*`), and THAT is what node-cron is given: node-cron never sees user text, and what
 * was validated is exactly what runs.
 *
 * Accepted syntax (anything else is refused with `CronInvalidError` naming the field):
 * - 5 fields `minute hour day-of-month month day-of-week`, or 6 with `second` first, separated
 *   by ASCII spaces. At most 256 characters (checked before anything else).
 * - In each field a comma list of: `*`, `N`, `N-M` (N <= M, no wrap-around), and `*` or `N-M`
 *   followed by a step `/S`, S from 1 to the field's width. Numbers are ASCII digits.
 * - Months may be written `jan`..`dec`, weekdays `sun`..`sat` (case-insensitive). Weekdays are
 *   0-7, 0 and 7 both Sunday. `?` is accepted as the whole day-of-month or day-of-week field
 *   (same as `*`).
 * - Macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`
 *   (their usual 5-field meaning). `@reboot` and any other `@` word are refused: they are not
 *   times, and a task meant to run at start-up should be triggered by the host at start-up.
 * - Not supported (refused): `L`, `W`, `#`, `N/S` without a range, reversed ranges `22-2`.
 *
 * Semantics are node-cron's: when both day-of-month and day-of-week are restricted, a day must
 * match BOTH (node-cron 4 ANDs them; classic Vixie cron ORs them). An expression whose days of
 * month exist in none of its months (`0 0 31 2 *`, `0 0 30 2 *`, `0 0 31 4,6 *`) can never fire
 * and is refused. With plain numbers that is the only way to never fire: every existing
 * (month, day) falls on every weekday within 28 years, and node-cron looks 100 years ahead.
 */

/** Longest expression accepted, in characters. */
export const MAX_CRON_EXPRESSION_LENGTH = 256;
const MAX_TIMEZONE_LENGTH = 64;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** the upper end `*` stands for (day of week: 6, since 7 is Sunday again) */
  starMax: number;
  /** names for the values, starting at `min` */
  names?: readonly string[];
  /** `?` allowed as the whole field */
  question?: boolean;
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59, starMax: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59, starMax: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23, starMax: 23 };
const DAY_OF_MONTH: FieldSpec = { name: 'day of month', min: 1, max: 31, starMax: 31, question: true };
const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  starMax: 12,
  names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
};
const DAY_OF_WEEK: FieldSpec = {
  name: 'day of week',
  min: 0,
  max: 7,
  starMax: 6,
  question: true,
  names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};

const MACROS: ReadonlyMap<string, string> = new Map([
  ['@yearly', '0 0 1 1 *'],
  ['@annually', '0 0 1 1 *'],
  ['@monthly', '0 0 1 * *'],
  ['@weekly', '0 0 * * 0'],
  ['@daily', '0 0 * * *'],
  ['@midnight', '0 0 * * *'],
  ['@hourly', '0 * * * *'],
]);

/** Days in each month (1-12) in the longest year: 29 for February, so leap days are valid. */
const MAX_DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const FIELD_CHARS = /^[A-Za-z0-9*?,/-]+$/;
const DIGITS = /^[0-9]+$/;
const NAME = /^[A-Za-z]{3}$/;

/** A validated cron expression. Value lists are sorted ascending; Sunday is 0. */
export interface ParsedCron {
  /** the expression as given */
  expression: string;
  /** 6 fields of plain numbers or `*`: what node-cron is handed */
  canonical: string;
  /** true when the expression had a seconds field */
  hasSeconds: boolean;
  second: readonly number[];
  minute: readonly number[];
  hour: readonly number[];
  dayOfMonth: readonly number[];
  month: readonly number[];
  dayOfWeek: readonly number[];
}

function show(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

function parseField(raw: string, spec: FieldSpec, expression: string): number[] {
  const fail = (reason: string): never => {
    throw new CronInvalidError(expression, `${spec.name} field ${show(raw)}: ${reason}`);
  };
  if (!FIELD_CHARS.test(raw)) {
    fail(`only ASCII digits, *, ",", "-" and "/"${spec.names ? ` and names like "${spec.names[0]}"` : ''} are allowed`);
  }
  const width = spec.max - spec.min + 1;
  const allowed = new Array<boolean>(spec.max + 1).fill(false);

  if (raw === '?') {
    if (!spec.question) fail('"?" is only allowed for day of month and day of week');
    for (let i = spec.min; i <= spec.starMax; i++) allowed[i] = true;
  } else {
    const value = (text: string): number => {
      if (text === '') return fail('a value is missing');
      if (DIGITS.test(text)) {
        // two digits cover every field; checking the length first keeps '1000000' from mattering
        const n = text.length <= 2 ? Number(text) : Number.POSITIVE_INFINITY;
        if (n < spec.min || n > spec.max) fail(`${text.length <= 6 ? text : `${text.slice(0, 6)}...`} is out of range ${spec.min}-${spec.max}`);
        return n;
      }
      if (spec.names && NAME.test(text)) {
        const index = spec.names.indexOf(text.toLowerCase());
        if (index >= 0) return spec.min + index;
      }
      return fail(`${show(text)} is not a ${spec.names ? 'number or a name' : 'number'}`);
    };

    for (const item of raw.split(',')) {
      if (item === '') fail('an item of the list is empty');
      const parts = item.split('/');
      if (parts.length > 2) fail(`${show(item)} has more than one "/"`);
      const base = parts[0]!;
      const stepText = parts[1];
      let low: number;
      let high: number;
      if (base === '*') {
        low = spec.min;
        high = spec.starMax;
      } else {
        if (base.includes('?') || base.includes('*')) fail(`${show(item)}: "*" and "?" must stand alone`);
        const ends = base.split('-');
        if (ends.length > 2) fail(`${show(item)} is not a range (N-M)`);
        low = value(ends[0]!);
        high = ends.length === 2 ? value(ends[1]!) : low;
        if (ends.length === 1 && stepText !== undefined) fail(`${show(item)}: a step needs * or a range, e.g. "*/5" or "0-30/5"`);
        if (low > high) fail(`range ${show(base)} goes backwards; write it from low to high`);
      }
      let step = 1;
      if (stepText !== undefined) {
        if (!DIGITS.test(stepText)) fail(`step ${show(stepText)} is not a number`);
        step = stepText.length <= 2 ? Number(stepText) : Number.POSITIVE_INFINITY;
        if (step < 1) fail('the step must be at least 1');
        if (step > width) fail(`the step must be at most ${width}`);
      }
      for (let i = low; i <= high; i += step) allowed[i] = true;
    }
  }

  if (spec === DAY_OF_WEEK && allowed[7]) {
    allowed[0] = true; // 7 is Sunday too
    allowed[7] = false;
  }
  const values: number[] = [];
  for (let i = spec.min; i <= spec.max; i++) if (allowed[i]) values.push(i);
  return values;
}

function canonicalField(values: readonly number[], spec: FieldSpec): string {
  return values.length === spec.starMax - spec.min + 1 ? '*' : values.join(',');
}

/**
 * Parses and validates a cron expression (see the top of this file for the syntax). Throws
 * `CronInvalidError` naming the field. Bounded work: at most 256 characters, each field expands
 * to at most 60 values.
 */
export function parseCronExpression(expression: unknown): ParsedCron {
  if (typeof expression !== 'string') {
    throw new CronInvalidError('', `expression: expected a string, got ${expression === null ? 'null' : typeof expression}`);
  }
  if (expression.length > MAX_CRON_EXPRESSION_LENGTH) {
    throw new CronInvalidError(expression, `expression: longer than ${MAX_CRON_EXPRESSION_LENGTH} characters (${expression.length})`);
  }
  let text = expression.replace(/^ +| +$/g, '');
  if (text === '') throw new CronInvalidError(expression, 'expression: empty');
  if (text.startsWith('@')) {
    const macro = MACROS.get(text.toLowerCase());
    if (macro === undefined) {
      throw new CronInvalidError(
        expression,
        `expression: ${show(text)} is not supported (accepted macros: ${[...MACROS.keys()].join(', ')}; @reboot is not a time)`,
      );
    }
    text = macro;
  }
  const fields = text.split(/ +/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new CronInvalidError(
      expression,
      `expression: expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got ${fields.length}`,
    );
  }
  const hasSeconds = fields.length === 6;
  const specs = hasSeconds ? [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK] : [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];
  const parsed = fields.map((raw, i) => parseField(raw, specs[i]!, expression));
  const [second, minute, hour, dayOfMonth, month, dayOfWeek] = hasSeconds ? parsed : [[0], ...parsed];

  // Can it ever fire? Some allowed day must exist in some allowed month (Feb 29 exists).
  const firstDay = dayOfMonth![0]!;
  if (!month!.some((m) => firstDay <= MAX_DAYS_IN_MONTH[m]!)) {
    const domRaw = fields[hasSeconds ? 3 : 2]!;
    const monthRaw = fields[hasSeconds ? 4 : 3]!;
    throw new CronInvalidError(expression, `day of month field ${show(domRaw)}: no such day in month field ${show(monthRaw)}, the expression can never fire`);
  }

  const canonical = [
    canonicalField(second!, SECOND),
    canonicalField(minute!, MINUTE),
    canonicalField(hour!, HOUR),
    canonicalField(dayOfMonth!, DAY_OF_MONTH),
    canonicalField(month!, MONTH),
    canonicalField(dayOfWeek!, DAY_OF_WEEK),
  ].join(' ');
  return {
    expression,
    canonical,
    hasSeconds,
    second: second!,
    minute: minute!,
    hour: hour!,
    dayOfMonth: dayOfMonth!,
    month: month!,
    dayOfWeek: dayOfWeek!,
  };
}

/** Throws `CronInvalidError` unless `timezone` is undefined or an IANA time zone this runtime knows. */
export function assertTimezone(expression: string, timezone: unknown): void {
  if (timezone === undefined) return;
  if (typeof timezone !== 'string' || timezone.length === 0 || timezone.length > MAX_TIMEZONE_LENGTH) {
    throw new CronInvalidError(
      expression,
      `timezone: expected an IANA time zone name such as "Europe/Paris", got ${typeof timezone === 'string' ? show(timezone) : typeof timezone}`,
    );
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new CronInvalidError(expression, `timezone: ${show(timezone)} is not a time zone this runtime knows`);
  }
}
