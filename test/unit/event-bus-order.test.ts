import { createLogger, transports } from 'winston';
import { EventBus, type TaskEventName } from '../../src/core/observation/event-bus';
import { EventRelay } from '../../src/core/observation/event-relay';
import { localDistribution, memoryStorage } from '../../src';
import type { RunEventNotice } from '../../src/ports/distribution';
import type { TaskRun } from '../../src/api/types';

const logger = createLogger({ transports: [new transports.Console({ silent: true })] });
const run = (id: string) => ({ id, definitionId: 'd', status: 'pending' }) as unknown as TaskRun;

function record(bus: EventBus): string[] {
  const seen: string[] = [];
  for (const name of ['submitted', 'started', 'done'] as TaskEventName[]) bus.on(name, (e) => void seen.push(`${name}:${e.run.id}`));
  return seen;
}

describe('EventBus: a run held until its submitted', () => {
  it('delivers the events of a held run after its submitted, in order; other runs are not held', () => {
    const bus = new EventBus(logger);
    const seen = record(bus);
    expect(bus.holdUntilSubmitted([run('a')])).toBe(true);
    bus.emit('started', { run: run('a') }); // claimed before this node read its insert's answer
    bus.emit('started', { run: run('b') });
    bus.emit('done', { run: run('a') });
    expect(seen).toEqual(['started:b']);
    bus.emit('submitted', { run: run('a') });
    expect(seen).toEqual(['started:b', 'submitted:a', 'started:a', 'done:a']);
    bus.emit('done', { run: run('a') }); // no longer held
    expect(seen.at(-1)).toBe('done:a');
    expect(seen).toHaveLength(5);
  });

  it('releaseHeld delivers what was queued when no submitted comes (an insert refused, or an existing run)', () => {
    const bus = new EventBus(logger);
    const seen = record(bus);
    bus.holdUntilSubmitted([run('a'), run('b')]);
    bus.emit('started', { run: run('a') });
    bus.releaseHeld([run('a'), run('b')]);
    expect(seen).toEqual(['started:a']);
    bus.emit('started', { run: run('b') });
    expect(seen).toEqual(['started:a', 'started:b']);
  });

  it('holds nothing while nobody listens', () => {
    const bus = new EventBus(logger);
    expect(bus.holdUntilSubmitted([run('a')])).toBe(false);
    const off = bus.on('started', () => undefined);
    expect(bus.holdUntilSubmitted([run('a')])).toBe(true);
    bus.releaseHeld([run('a')]);
    off();
    expect(bus.holdUntilSubmitted([run('a')])).toBe(false);
  });
});

describe('EventRelay: events of other nodes keep the run order on this node', () => {
  it("another node's event of a run this node has not announced yet reaches live views after its submitted", () => {
    const bus = new EventBus(logger);
    const relay = new EventRelay({ distribution: localDistribution(), bus, storage: memoryStorage(), logger });
    const seen: string[] = [];
    // a live view: this node's events through the bus, other nodes' through the relay
    bus.on('submitted', (e) => void seen.push(`local submitted:${e.run.id}`));
    const stop = relay.watch({}, (e) => void seen.push(`remote ${e.type}:${e.runId}`));

    bus.holdUntilSubmitted([run('a')]); // this node's insert of 'a' is not answered yet
    const started = (id: string): RunEventNotice => ({ type: 'started', runId: id, definitionId: 'd', run: run(id) });
    relay.received([started('a'), started('b')]); // another node claimed 'a' meanwhile
    expect(seen).toEqual(['remote started:b']);
    bus.emit('submitted', { run: run('a') });
    expect(seen).toEqual(['remote started:b', 'local submitted:a', 'remote started:a']);
    relay.received([started('a')]);
    expect(seen.at(-1)).toBe('remote started:a'); // no longer held: at once
    stop();
  });
});
