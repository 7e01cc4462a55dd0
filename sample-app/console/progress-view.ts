import type { TaskRun, TaskService } from '../../src';
import { ansi, colorStatus, cut, fraction, seconds } from './format';

interface Row {
  run: TaskRun;
  /** plain mode: the last 10% step printed, and when */
  printedStep: number;
  printedAt: number;
}

const BAR_WIDTH = 24;

/**
 * Live progress of the runs the app is interested in. On a terminal: one line per run, with a bar,
 * redrawn in place (ANSI cursor movements). Otherwise: plain, append-only lines (start, every
 * tenth of progress at most twice a second, end), so logs and CI output stay readable.
 */
export class ProgressView {
  private readonly rows = new Map<string, Row>();
  private readonly offs: Array<() => void> = [];
  private timer?: NodeJS.Timeout;
  private drawn = 0;
  private readonly t0 = Date.now();
  private closed = false;

  constructor(
    private readonly service: TaskService,
    private readonly out: NodeJS.WriteStream = process.stdout,
    readonly live: boolean = Boolean(process.stdout.isTTY) && process.env.TERM !== 'dumb',
  ) {}

  start(): void {
    const s = this.service;
    this.offs.push(
      s.on('submitted', ({ run }) => this.update(run, 'submitted')),
      s.on('started', ({ run }) => this.update(run, 'started')),
      s.on('progress', ({ run }) => this.update(run, 'progress')),
      s.on('iteration', ({ run }) => this.update(run, 'iteration')),
      s.on('done', ({ run }) => this.update(run, 'done')),
      s.on('failed', ({ run }) => this.update(run, 'failed')),
      s.on('aborted', ({ run }) => this.update(run, 'aborted')),
    );
    if (this.live) {
      this.out.write('\x1b[?25l'); // hide the cursor while redrawing
      this.timer = setInterval(() => this.render(), 100);
      this.timer.unref();
    }
  }

  /** ids of every run seen, in the order they appeared */
  get runIds(): string[] {
    return [...this.rows.keys()];
  }

  /** a message above the bars (or a plain line) */
  log(message: string): void {
    if (this.live && !this.closed) {
      this.clear();
      this.out.write(`${message}\n`);
      this.render();
    } else {
      this.out.write(`${message}\n`);
    }
  }

  stop(): void {
    if (this.closed) return;
    for (const off of this.offs.splice(0)) off();
    if (this.timer) clearInterval(this.timer);
    if (this.live) {
      this.render();
      this.out.write('\x1b[?25h');
    }
    this.closed = true;
  }

  private update(run: TaskRun, what: string): void {
    let row = this.rows.get(run.id);
    if (!row) {
      row = { run, printedStep: -1, printedAt: 0 };
      this.rows.set(run.id, row);
    } else if (what === 'progress' && row.run.status !== 'running' && row.run.status !== 'pending') {
      return; // a late progress event after the end
    }
    row.run = what === 'iteration' || what === 'progress' ? { ...run, status: 'running' } : run;
    if (!this.live) this.printPlain(row, what);
  }

  private label(run: TaskRun): string {
    const name = run.name && run.name !== run.definitionId ? `${run.definitionId} (${run.name})` : run.definitionId;
    return run.parentId && this.rows.has(run.parentId) ? `  └ ${name}` : name;
  }

  private printPlain(row: Row, what: string): void {
    const run = row.run;
    const f = fraction(run);
    const stamp = `[${seconds(Date.now() - this.t0).padStart(7)}]`;
    const pct = f === undefined ? '' : ` ${String(Math.round(f * 100)).padStart(3)}%`;
    if (what === 'progress' || what === 'iteration') {
      const step = f === undefined ? row.printedStep : Math.floor(f * 10);
      const now = Date.now();
      if (step <= row.printedStep && now - row.printedAt < 2000) return;
      if (now - row.printedAt < 500 && step < 10) return;
      row.printedStep = step;
      row.printedAt = now;
    }
    const info = run.progress?.info ? `  ${run.progress.info}` : '';
    const tail = what === 'failed' || what === 'aborted' ? `  ${run.error?.code ?? ''} ${run.error?.message ?? ''}`.trimEnd() : what === 'done' ? '' : info;
    this.out.write(`${stamp} ${this.label(run).padEnd(44)} ${what.padEnd(9)}${pct}${run.iterations > 1 ? ` (iteration ${run.iterations})` : ''}${tail}\n`);
  }

  /** rows in display order: each run followed by its children */
  private ordered(): Row[] {
    const children = new Map<string, Row[]>();
    const top: Row[] = [];
    for (const row of this.rows.values()) {
      const parent = row.run.parentId;
      if (parent && this.rows.has(parent)) {
        let list = children.get(parent);
        if (!list) children.set(parent, (list = []));
        list.push(row);
      } else top.push(row);
    }
    const out: Row[] = [];
    const visit = (row: Row, depth: number) => {
      out.push(row);
      if (depth < 8) for (const child of children.get(row.run.id) ?? []) visit(child, depth + 1);
    };
    top.forEach((r) => visit(r, 0));
    return out;
  }

  private line(row: Row, width: number): string {
    const run = row.run;
    const f = fraction(run);
    // a line must never wrap (the redraw counts lines): the bar, the label and the info give way on narrow terminals
    const barWidth = width >= 90 ? BAR_WIDTH : width >= 70 ? 10 : 0;
    const filled = f === undefined ? 0 : Math.round(f * barWidth);
    const bar =
      barWidth === 0
        ? ''
        : f === undefined
          ? ansi.dim('·'.repeat(barWidth))
          : colorStatus(run.status, '█'.repeat(filled)) + ansi.dim('░'.repeat(barWidth - filled));
    const pct = f === undefined ? '    ' : `${String(Math.round(f * 100)).padStart(3)}%`;
    const rest = 1 + 8 + 1 + (barWidth ? barWidth + 1 : 0) + 4 + 1 + 6 + 1;
    const labelWidth = Math.max(8, Math.min(40, width - rest - 12));
    const label = cut(this.label(run), labelWidth).padEnd(labelWidth);
    const status = run.status.padEnd(8);
    const iter = run.iterations > 1 ? `it.${run.iterations}` : '';
    const info = run.status === 'failed' || run.status === 'aborted' ? (run.error?.message ?? '') : (run.progress?.info ?? '');
    const room = width - labelWidth - rest - 1;
    return `${label} ${colorStatus(run.status, status)} ${bar ? `${bar} ` : ''}${pct} ${iter.padEnd(6)} ${ansi.dim(cut(info, room))}`;
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[0J`); // up to the first bar, erase below
    this.drawn = 0;
  }

  private render(): void {
    if (this.closed) return;
    const width = Math.max(40, this.out.columns || 120);
    const height = Math.max(5, (this.out.rows || 40) - 2);
    let rows = this.ordered();
    // on a short terminal keep the unfinished runs and the most recent ones
    if (rows.length > height)
      rows = rows.filter((r, i) => r.run.status === 'running' || r.run.status === 'pending' || i >= rows.length - height).slice(-height);
    this.clear();
    let text = '';
    for (const row of rows) text += `\x1b[2K${this.line(row, width)}\n`;
    this.out.write(text);
    this.drawn = rows.length;
  }
}
