import type { Operation } from './operations';
import { SseParser } from './sse-parser';

/** One GraphQL error as the server sends it. */
export interface GraphQLErrorShape {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

/**
 * A refused or failed call: `code` is the tasklane error code of the first GraphQL error
 * (`INPUT_INVALID`, `FORBIDDEN`, ...), `NETWORK` when the server could not be reached, `HTTP` for an
 * answer that was not GraphQL.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly errors: readonly GraphQLErrorShape[] = [],
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** `extensions` of the first error (for `INPUT_INVALID`: `errors`, the broken constraints). */
  get extensions(): Record<string, unknown> {
    return this.errors[0]?.extensions ?? {};
  }
}

export interface SubscriptionHandlers<R> {
  next(data: R): void;
  /** the stream ended for good (the server completed it, or answered with an error) */
  complete?(): void;
  error?(error: ApiError): void;
  /** the stream dropped and was opened again: events may have been missed, reload what is shown */
  reconnected?(): void;
}

export interface ClientOptions {
  /** the GraphQL endpoint, e.g. `new URL('graphql', document.baseURI)` */
  endpoint: string;
  /** the token the person signed in with; read at each call */
  token(): string | null;
  /** called once per call the server refused with 401: the page goes back to sign-in */
  unauthenticated(): void;
}

/** Reconnect delays of a dropped event stream, in ms: quick first, then every 10 s. */
const RECONNECT_DELAYS = [500, 1000, 2000, 5000, 10_000];

/**
 * Talks to the management API: queries and mutations as `POST /graphql`, subscriptions as the
 * same POST with `Accept: text/event-stream` (graphql-yoga's "distinct connections" SSE mode:
 * `event: next` with a result in `data`, `event: complete` at the end, `:` keep-alive comments),
 * read with fetch streaming because EventSource cannot send the `Authorization` header.
 */
export class GraphQLClient {
  constructor(private readonly options: ClientOptions) {}

  async request<R, V>(operation: Operation<R, V>, variables: V): Promise<R> {
    let response: Response;
    try {
      response = await fetch(this.options.endpoint, {
        method: 'POST',
        headers: this.headers('application/graphql-response+json, application/json'),
        body: JSON.stringify({ query: operation.query, variables }),
      });
    } catch (err) {
      throw new ApiError(`The server could not be reached (${(err as Error).message}).`, 'NETWORK');
    }
    const body = await readJson(response);
    return this.unwrap<R>(body, response.status);
  }

  /** Opens a subscription; the function returned closes it. */
  subscribe<R, V>(operation: Operation<R, V>, variables: V, handlers: SubscriptionHandlers<R>): () => void {
    const controller = new AbortController();
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;

    const open = async (): Promise<void> => {
      let ended = false; // the server completed the stream or refused it: do not reconnect
      try {
        const response = await fetch(this.options.endpoint, {
          method: 'POST',
          headers: this.headers('text/event-stream'),
          body: JSON.stringify({ query: operation.query, variables }),
          signal: controller.signal,
        });
        const type = response.headers.get('content-type') ?? '';
        if (!type.includes('text/event-stream') || !response.body) {
          // a refusal before the stream starts (401, 403, a bad query) comes back as plain JSON
          ended = true;
          this.unwrap<R>(await readJson(response), response.status);
          throw new ApiError(`The event stream answered ${response.status} without events.`, 'HTTP', [], response.status);
        }
        if (attempt > 0) handlers.reconnected?.();
        attempt = 0;
        const parser = new SseParser((event) => {
          if (event.event === 'complete') {
            ended = true;
            return;
          }
          if (event.event !== 'next') return;
          let payload: unknown;
          try {
            payload = JSON.parse(event.data);
          } catch {
            return; // a malformed event is skipped; the stream goes on
          }
          try {
            handlers.next(this.unwrap<R>(payload, 200));
          } catch (err) {
            ended = true;
            handlers.error?.(err instanceof ApiError ? err : new ApiError(String(err), 'CLIENT'));
            controller.abort();
          }
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
      } catch (err) {
        if (closed) return;
        if (err instanceof ApiError) {
          ended = true;
          handlers.error?.(err);
          return;
        }
        // a network drop: fall through to reconnect
      }
      if (closed) return;
      if (ended) {
        closed = true;
        handlers.complete?.();
        return;
      }
      const delay = RECONNECT_DELAYS[Math.min(attempt, RECONNECT_DELAYS.length - 1)];
      attempt++;
      timer = setTimeout(() => void open(), delay);
    };

    void open();
    return () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      controller.abort();
    };
  }

  private headers(accept: string): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept };
    const token = this.options.token();
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  /** The `data` of a GraphQL answer, or the ApiError its first error describes. */
  private unwrap<R>(body: unknown, status: number): R {
    const result = (body && typeof body === 'object' ? body : {}) as { data?: unknown; errors?: unknown };
    const errors = Array.isArray(result.errors) ? (result.errors as GraphQLErrorShape[]) : [];
    const code = typeof errors[0]?.extensions?.code === 'string' ? (errors[0].extensions.code as string) : undefined;
    if (status === 401 || code === 'UNAUTHENTICATED') {
      this.options.unauthenticated();
      throw new ApiError(errors[0]?.message ?? 'Sign in again.', 'UNAUTHENTICATED', errors, status);
    }
    if (errors.length > 0) {
      throw new ApiError(errors.map((e) => e.message).join('; '), code ?? (status === 403 ? 'FORBIDDEN' : 'GRAPHQL'), errors, status);
    }
    if (status >= 400 || result.data === undefined || result.data === null) {
      throw new ApiError(`The server answered ${status}.`, 'HTTP', [], status);
    }
    return result.data as R;
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return {};
  }
}
