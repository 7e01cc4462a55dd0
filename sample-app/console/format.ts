import type { TaskRun } from '../../src';

const ESC = '\x1b[';
export const ansi = {
  green: (s: string) => `${ESC}32m${s}${ESC}39m`,
  red: (s: string) => `${ESC}31m${s}${ESC}39m`,
  yellow: (s: string) => `${ESC}33m${s}${ESC}39m`,
  cyan: (s: string) => `${ESC}36m${s}${ESC}39m`,
  dim: (s: string) => `${ESC}2m${s}${ESC}22m`,
  bold: (s: string) => `${ESC}1m${s}${ESC}22m`,
};

/** `s` cut to `width` characters, with an ellipsis when it was longer */
export function cut(s: string, width: number): string {
  if (width <= 0) return '';
  const flat = s.replace(/[\r\n\t]+/g, ' ');
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(0, width - 1))}…`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** the run's fraction done, 0..1, or undefined when its progress has no total */
export function fraction(run: TaskRun): number | undefined {
  if (run.status === 'success') return 1;
  const p = run.progress;
  if (!p || typeof p.current !== 'number' || typeof p.total !== 'number') return undefined;
  if (p.total <= 0) return run.status === 'running' ? 0 : 1;
  return Math.min(1, Math.max(0, p.current / p.total));
}

export function colorStatus(status: TaskRun['status'], text: string = status): string {
  switch (status) {
    case 'success':
      return ansi.green(text);
    case 'failed':
      return ansi.red(text);
    case 'aborted':
      return ansi.yellow(text);
    case 'running':
      return ansi.cyan(text);
    default:
      return ansi.dim(text);
  }
}

/** what the run produced, in one line: its output, or its error */
export function resultSummary(run: TaskRun): string {
  if (run.status === 'success') return run.output === undefined ? '' : JSON.stringify(run.output);
  if (run.error) return `${run.error.code ? `${run.error.code}: ` : ''}${run.error.message}`;
  return run.progress?.info ?? '';
}
