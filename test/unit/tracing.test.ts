/**
 * Tracing (MANAGEMENT.md section 6): with a registered tracer provider, a span around each trigger
 * and each iteration, the iteration's linked to its trigger's, a child run's trigger span a child of
 * its parent's iteration span; without one, nothing recorded and no trace context on runs.
 */
import 'reflect-metadata';
import { SpanKind, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { memoryStorage, Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { startHarness } from '../helpers/engine-harness';

@Task({ id: 'trace.child', title: 'Child' })
class ChildTask implements TaskDefinition<undefined, null> {
  async run({ controller }: TaskRunParams<undefined, null>) {
    return controller.response.done(null);
  }
}

/** two iterations; the second triggers a child */
@Task({ id: 'trace.parent', title: 'Parent' })
class ParentTask implements TaskDefinition<undefined, { child?: string }> {
  async run({ controller, run }: TaskRunParams<undefined, { child?: string }>) {
    if (run.iterations === 1) return controller.response.continue();
    const child = await controller.trigger({ definition: 'trace.child' });
    return controller.response.done({ child: child.id });
  }
}

afterEach(async () => {
  trace.disable();
});

test('trigger and iteration spans, linked, with the child trigger under its parent iteration', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  const h = await startHarness({ storage: memoryStorage(), tasks: [ParentTask, ChildTask] });
  try {
    const parent = await h.service.trigger({ definition: 'trace.parent' });
    const output = await h.service.result<{ child: string }>(parent.id, { timeout: 10_000 });
    await h.service.wait(output.child, { timeout: 10_000 });
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const id = (s: ReadableSpan) => s.spanContext().spanId;

    const [parentTrigger] = named('tasklane.trigger trace.parent');
    expect(parentTrigger.kind).toBe(SpanKind.PRODUCER);
    expect(parentTrigger.attributes['tasklane.run.id']).toBe(parent.id);
    expect(parent.context?.traceparent).toBe(`00-${parentTrigger.spanContext().traceId}-${id(parentTrigger)}-01`);

    const parentIterations = named('tasklane.iteration trace.parent');
    expect(parentIterations).toHaveLength(2);
    for (const it of parentIterations) {
      expect(it.kind).toBe(SpanKind.CONSUMER);
      expect(it.links.map((l) => l.context.spanId)).toEqual([id(parentTrigger)]);
      expect(it.attributes['tasklane.run.id']).toBe(parent.id);
    }
    const second = parentIterations.find((s) => s.attributes['tasklane.iteration'] === 2)!;
    expect(second.attributes['tasklane.outcome']).toBe('done');

    const [childTrigger] = named('tasklane.trigger trace.child');
    expect(childTrigger.parentSpanContext?.spanId).toBe(id(second));
    expect(childTrigger.spanContext().traceId).toBe(second.spanContext().traceId);
    const [childIteration] = named('tasklane.iteration trace.child');
    expect(childIteration.links.map((l) => l.context.spanId)).toEqual([id(childTrigger)]);
    const child = await h.service.get(output.child);
    expect(child?.context?.traceparent).toContain(id(childTrigger));
  } finally {
    await h.stop();
    await provider.shutdown();
  }
});

test('without a registered provider: no span, no trace context on runs', async () => {
  const h = await startHarness({ storage: memoryStorage(), tasks: [ParentTask, ChildTask] });
  try {
    const parent = await h.service.trigger({ definition: 'trace.parent' });
    const output = await h.service.result<{ child: string }>(parent.id, { timeout: 10_000 });
    expect(parent.context).toBeUndefined();
    expect((await h.service.get(output.child))?.context).toBeUndefined();
  } finally {
    await h.stop();
  }
});
