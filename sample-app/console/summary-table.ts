import type { TaskRun } from '../../src';
import { colorStatus, cut, resultSummary, seconds } from './format';

interface Column {
  title: string;
  width: number;
  value(run: TaskRun): string;
  color?(run: TaskRun, text: string): string;
}

function duration(run: TaskRun): string {
  if (!run.startedOn) return '-';
  const end = run.finishedOn ? Date.parse(run.finishedOn) : Date.now();
  return seconds(end - Date.parse(run.startedOn));
}

/** The runs as a table: id, definition, status, iterations, duration, output or error. */
export function summaryTable(runs: TaskRun[], options: { color: boolean; width?: number }): string {
  const byParent = new Map<string, TaskRun[]>();
  const ids = new Set(runs.map((r) => r.id));
  const top: TaskRun[] = [];
  for (const run of runs) {
    if (run.parentId && ids.has(run.parentId)) {
      let list = byParent.get(run.parentId);
      if (!list) byParent.set(run.parentId, (list = []));
      list.push(run);
    } else top.push(run);
  }
  const ordered: Array<{ run: TaskRun; depth: number }> = [];
  const visit = (run: TaskRun, depth: number) => {
    ordered.push({ run, depth });
    for (const child of byParent.get(run.id) ?? []) visit(child, depth + 1);
  };
  top.forEach((r) => visit(r, 0));
  const depthOf = new Map(ordered.map((o) => [o.run.id, o.depth]));

  const columns: Column[] = [
    { title: 'id', width: 26, value: (r) => r.id },
    { title: 'definition', width: 32, value: (r) => `${'  '.repeat(depthOf.get(r.id) ?? 0)}${(depthOf.get(r.id) ?? 0) > 0 ? '└ ' : ''}${r.definitionId}` },
    { title: 'status', width: 8, value: (r) => r.status, color: (r, t) => colorStatus(r.status, t) },
    { title: 'iter', width: 4, value: (r) => String(r.iterations) },
    { title: 'duration', width: 8, value: duration },
  ];
  const fixed = columns.reduce((n, c) => n + c.width + 2, 0);
  const resultWidth = Math.max(20, (options.width ?? 160) - fixed);
  columns.push({ title: 'output / error', width: resultWidth, value: resultSummary });

  const cell = (c: Column, text: string, run?: TaskRun) => {
    const padded = cut(text, c.width).padEnd(c.width);
    return options.color && run && c.color ? c.color(run, padded) : padded;
  };
  const lines = [
    columns
      .map((c) => cell(c, c.title))
      .join('  ')
      .trimEnd(),
    columns.map((c) => '-'.repeat(c.width)).join('  '),
    ...ordered.map(({ run }) =>
      columns
        .map((c) => cell(c, c.value(run), run))
        .join('  ')
        .trimEnd(),
    ),
  ];
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  lines.push('', `${runs.length} runs: ${[...counts.entries()].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  return lines.join('\n');
}
