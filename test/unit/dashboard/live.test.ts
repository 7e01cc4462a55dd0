import { FrameBatcher, type FrameScheduler } from '../../../dashboard/src/live/frame-batcher';
import { applyRunUpdates, mergeRunUpdate, runFromEvent } from '../../../dashboard/src/live/run-updates';
import { SseParser, type SseEvent } from '../../../dashboard/src/api/sse-parser';
import type { RunSummary } from '../../../dashboard/src/api/types';

/** Frames that run when the test says so. */
class ManualFrames implements FrameScheduler {
  private next = 1;
  readonly queued = new Map<number, () => void>();
  request(callback: () => void): number {
    const handle = this.next++;
    this.queued.set(handle, callback);
    return handle;
  }
  cancel(handle: number): void {
    this.queued.delete(handle);
  }
  tick(): void {
    const callbacks = [...this.queued.values()];
    this.queued.clear();
    for (const cb of callbacks) cb();
  }
}

function run(id: string, patch: Partial<RunSummary> = {}): RunSummary {
  return {
    id,
    definitionId: 'def',
    name: id,
    status: 'running',
    progress: null,
    iterations: 1,
    attempt: 1,
    retries: 0,
    parentId: null,
    createdOn: '2026-01-01T00:00:00.000Z',
    startedOn: null,
    finishedOn: null,
    nodeId: null,
    ...patch,
  };
}

describe('dashboard live updates', () => {
  it('batches 500 updates of 50 runs into one flush per frame, the latest per run', () => {
    const frames = new ManualFrames();
    const flushes: Array<ReadonlyMap<string, RunSummary>> = [];
    const batcher = new FrameBatcher<RunSummary>(mergeRunUpdate, (b) => flushes.push(b), frames);
    for (let tick = 1; tick <= 10; tick++) {
      for (let r = 0; r < 50; r++) batcher.push(`r${r}`, run(`r${r}`, { progress: { current: tick, total: 10 } }));
    }
    expect(frames.queued.size).toBe(1); // one frame asked for, not 500
    expect(flushes).toHaveLength(0);
    frames.tick();
    expect(flushes).toHaveLength(1);
    expect(flushes[0].size).toBe(50);
    expect(flushes[0].get('r7')?.progress).toEqual({ current: 10, total: 10 });
    frames.tick();
    expect(flushes).toHaveLength(1); // nothing pending: no empty flush
    batcher.push('r1', run('r1', { status: 'success' }));
    batcher.dispose();
    frames.tick();
    expect(flushes).toHaveLength(1);
  });

  it('keeps the progress last reported when a later snapshot of a running run has none', () => {
    const withProgress = run('a', { progress: { current: 3, total: 4 } });
    expect(mergeRunUpdate(withProgress, run('a', { iterations: 2 })).progress).toEqual({ current: 3, total: 4 });
    expect(mergeRunUpdate(withProgress, run('a', { status: 'success' })).progress).toBeNull();
    expect(runFromEvent({ type: 'progress', run: run('a'), progress: { current: 9 } }).progress).toEqual({ current: 9 });
  });

  it('updates shown rows in place and puts new matching runs on top of the first page only', () => {
    const rows = [run('b', { createdOn: '2026-01-01T00:00:02Z' }), run('a', { createdOn: '2026-01-01T00:00:01Z' })];
    const updates = new Map([
      ['a', run('a', { status: 'success', createdOn: '2026-01-01T00:00:01Z' })],
      ['c', run('c', { status: 'pending', createdOn: '2026-01-01T00:00:03Z' })],
      ['d', run('d', { definitionId: 'other', createdOn: '2026-01-01T00:00:04Z' })],
      ['old', run('old', { createdOn: '2025-01-01T00:00:00Z' })],
    ]);
    expect(applyRunUpdates(rows, updates, { definitionId: 'def' }, true, 50).map((r) => `${r.id}:${r.status}`)).toEqual([
      'c:pending',
      'b:running',
      'a:success',
    ]);
    expect(applyRunUpdates(rows, updates, {}, true, 2).map((r) => r.id)).toEqual(['d', 'c']);
    expect(applyRunUpdates(rows, updates, {}, false, 50).map((r) => r.id)).toEqual(['b', 'a']);
    expect(applyRunUpdates(rows, updates, { status: 'running' }, true, 50).map((r) => r.id)).toEqual(['d', 'b', 'a']);
  });

  it("parses graphql-yoga's event stream across chunk boundaries", () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    const body = ':\n\nevent: next\ndata: {"data":{"x":1}}\n\n:\n\nevent: next\r\ndata: {"data":\r\ndata: 2}\r\n\r\nevent: complete\ndata:\n\n';
    // every split point, including inside a CRLF
    for (let cut = 0; cut <= body.length; cut++) {
      events.length = 0;
      const p = new SseParser((e) => events.push(e));
      p.push(body.slice(0, cut));
      p.push(body.slice(cut));
      expect(events).toEqual([
        { event: 'next', data: '{"data":{"x":1}}' },
        { event: 'next', data: '{"data":\n2}' },
        { event: 'complete', data: '' },
      ]);
    }
    parser.push('data: a\rdata: b\r\r');
    expect(events.at(-1)).toEqual({ event: 'message', data: 'a\nb' });
    events.length = 0;
    parser.push('event: ping\n\n');
    expect(events).toEqual([]); // no data: nothing dispatched, as EventSource does
  });
});

describe('dashboard runs filter by parent', () => {
  it('adds a new run on top only when it is a child of the parent filtered on', () => {
    const rows = [run('a', { parentId: 'p', createdOn: '2026-01-01T00:00:01Z' })];
    const updates = new Map([
      ['c1', run('c1', { parentId: 'p', createdOn: '2026-01-01T00:00:02Z' })],
      ['x', run('x', { parentId: 'q', createdOn: '2026-01-01T00:00:03Z' })],
    ]);
    expect(applyRunUpdates(rows, updates, { parentId: 'p' }, true, 50).map((r) => r.id)).toEqual(['c1', 'a']);
  });
});
