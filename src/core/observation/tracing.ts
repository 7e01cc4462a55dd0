import {
  context as otContext,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import type { TaskContext, TaskRun } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';

/**
 * OpenTelemetry spans around triggers and iterations, through `@opentelemetry/api` only: the host
 * registers the SDK (a tracer provider); without one nothing is recorded and nothing is paid but
 * {@link tracingOn}, a few property reads per trigger and per iteration.
 *
 * - A trigger span (`tasklane.trigger <definition>`, kind PRODUCER) covers `trigger()` until the
 *   run is stored. Its span context travels with the run as a W3C `traceparent` string in the
 *   run's `context` (the key {@link TRACEPARENT}): no storage column is needed, it reaches whichever
 *   node executes the run, and a child run inherits its parent's context and replaces that key.
 * - An iteration span (`tasklane.iteration <definition>`, kind CONSUMER) covers one call of
 *   `run()`, linked to the trigger span; it is the active span while `run()` executes, so the
 *   task's own spans nest under it (with the host's context manager).
 * - A child run's trigger span is a child of the iteration span that triggered it (passed
 *   explicitly, so it holds without a context manager too).
 */

/** the key of the run context that carries the trigger span's W3C trace context */
export const TRACEPARENT = 'traceparent';
const TRACER_NAME = 'tasklane';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** the delegate of a provider nobody registered */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Where @opentelemetry/api 1.x keeps what is registered globally (a tracer provider, a context
 * manager, ...), so that copies of the API find each other: absent while nothing was registered.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * Whether the host registered a tracer provider (checked per call: it may be registered late).
 * Called twice per run (trigger, iteration): without any OpenTelemetry registration it is one
 * property read (~10 ns a call here, where the API's getTracerProvider() alone took ~18 ns).
 */
export function tracingOn(): boolean {
  if ((globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] === undefined) return false;
  const provider = trace.getTracerProvider();
  // a provider of another copy of the API is not a ProxyTracerProvider of ours: taken as registered
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT_RE.exec(value);
  if (!m) return undefined;
  const sc: SpanContext = { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true };
  return isSpanContextValid(sc) ? sc : undefined;
}

/** set synchronously around a child trigger made from inside an iteration (see withTriggerParent) */
let childParent: Span | undefined;

/** runs `fn` (which starts a trigger synchronously) with `span` as the parent of its trigger span */
export function withTriggerParent<T>(span: Span, fn: () => T): T {
  const previous = childParent;
  childParent = span;
  try {
    return fn();
  } finally {
    childParent = previous;
  }
}

/** the options shape this module needs from a trigger */
interface TracedTrigger {
  definition: unknown;
  context?: TaskContext;
}

/**
 * Runs a trigger inside its span: `go` gets the options with the span's `traceparent` added to the
 * run's context (from `options.context`, else `current`, the context of runWithContext()).
 */
export function traceTrigger<O extends TracedTrigger>(options: O, current: TaskContext | undefined, go: (traced: O) => Promise<TaskRun>): Promise<TaskRun> {
  const definition = typeof options?.definition === 'function' ? ((options.definition as { name?: string }).name ?? 'class') : String(options?.definition);
  const parent = childParent ? trace.setSpan(ROOT_CONTEXT, childParent) : otContext.active();
  const span = tracer().startSpan(`tasklane.trigger ${definition}`, { kind: SpanKind.PRODUCER, attributes: { 'tasklane.definition': definition } }, parent);
  const sc = span.spanContext();
  let traced = options;
  if (isSpanContextValid(sc) && typeof options === 'object' && options !== null) {
    const base = options.context ?? current;
    // a context that is not an object is left as it is: trigger() refuses it
    if (base === undefined || (typeof base === 'object' && base !== null && !Array.isArray(base))) {
      traced = { ...options, context: { ...base, [TRACEPARENT]: formatTraceparent(sc) } };
    }
  }
  let result: Promise<TaskRun>;
  try {
    result = go(traced);
  } catch (err) {
    fail(span, err);
    throw err;
  }
  return result.then(
    (run) => {
      span.setAttribute('tasklane.run.id', run.id);
      span.end();
      return run;
    },
    (err: unknown) => {
      fail(span, err);
      throw err;
    },
  );
}

/** starts the span of one iteration, linked to the run's trigger span when the run carries one */
export function startIterationSpan(run: RunRecord, nodeId: string): Span {
  const trigger = parseTraceparent(run.context?.[TRACEPARENT]);
  return tracer().startSpan(
    `tasklane.iteration ${run.definitionId}`,
    {
      kind: SpanKind.CONSUMER,
      root: true,
      links: trigger ? [{ context: trigger }] : [],
      attributes: {
        'tasklane.definition': run.definitionId,
        'tasklane.run.id': run.id,
        'tasklane.iteration': run.iterations,
        'tasklane.attempt': run.attempt,
        'tasklane.node': nodeId,
      },
    },
    ROOT_CONTEXT,
  );
}

/** calls `fn` with `span` as the active span (for the task's own spans) */
export function inSpan<T>(span: Span, fn: () => T): T {
  return otContext.with(trace.setSpan(otContext.active(), span), fn);
}

/** ends an iteration span: `error` when its code threw, or the iteration was given up */
export function endIterationSpan(span: Span, outcome: string, error?: unknown): void {
  span.setAttribute('tasklane.outcome', outcome);
  if (error !== undefined) fail(span, error);
  else span.end();
}

function fail(span: Span, err: unknown): void {
  const message = err instanceof Error ? err.message : String((err as { message?: unknown })?.message ?? err);
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}
