import { createClient, type Client } from 'graphql-sse';
import { CliError, EXIT, exitCodeOf } from './exit-codes';
import { errorMessage } from '../util/safe-string';

interface GraphQLAnswer {
  data?: { backgroundTasks?: Record<string, unknown> } | null;
  errors?: Array<{ message: string; extensions?: { code?: string; errors?: Array<{ path: string; constraints: Record<string, string> }> } }>;
}

/** what a network failure looks like to the CLI: the server could not be reached */
function unreachable(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code ?? cause?.message ?? errorMessage(err);
  return new CliError(`cannot reach the tasklane server at ${url} (${why})`, EXIT.UNREACHABLE);
}

/** the CliError of a GraphQL error answer */
function apiFailure(errors: NonNullable<GraphQLAnswer['errors']>): CliError {
  const first = errors[0];
  const code = first.extensions?.code;
  const details = (first.extensions?.errors ?? []).map((e) => `  ${e.path || '(input)'}: ${Object.values(e.constraints).join('; ')}`);
  return new CliError(`${first.message}${code ? ` [${code}]` : ''}`, exitCodeOf(code), details);
}

/** The management API as the CLI speaks to it: GraphQL over HTTP, and its event streams (graphql-sse). */
export class ApiClient {
  private sse?: Client;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  private get endpoint(): string {
    return `${this.url.replace(/\/+$/, '')}/graphql`;
  }

  /** runs a query or mutation; answers its `backgroundTasks` object */
  async request<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw unreachable(this.url, err);
    }
    const text = await res.text().catch((err: unknown) => {
      throw unreachable(this.url, err);
    });
    let answer: GraphQLAnswer;
    try {
      answer = JSON.parse(text) as GraphQLAnswer;
    } catch {
      // not the management API answering (a proxy's error page, another server)
      throw new CliError(`the server at ${this.url} did not answer as a tasklane API (HTTP ${res.status})`, EXIT.UNREACHABLE);
    }
    if (answer.errors?.length) throw apiFailure(answer.errors);
    if (!answer.data?.backgroundTasks) throw new CliError(`the server at ${this.url} gave no answer (HTTP ${res.status})`, EXIT.UNREACHABLE);
    return answer.data.backgroundTasks as T;
  }

  /**
   * The events of a subscription (`backgroundTaskEvents`), until the stream completes. A refusal
   * (401, 404, ...) or a lost server is thrown as the CliError it maps to.
   */
  async *events<E>(query: string, variables: Record<string, unknown>): AsyncGenerator<E> {
    this.sse ??= createClient({ url: this.endpoint, headers: { authorization: `Bearer ${this.token}` }, retryAttempts: 0, singleConnection: false });
    const iterator = this.sse.iterate<{ backgroundTaskEvents: E }>({ query, variables });
    try {
      for (;;) {
        let next: IteratorResult<{ data?: { backgroundTaskEvents: E } | null; errors?: unknown }>;
        try {
          next = await iterator.next();
        } catch (err) {
          throw await this.streamFailure(err);
        }
        if (next.done) return;
        const errors = next.value.errors as GraphQLAnswer['errors'];
        if (errors?.length) throw apiFailure(errors);
        if (next.value.data?.backgroundTaskEvents) yield next.value.data.backgroundTaskEvents;
      }
    } finally {
      await iterator.return?.(undefined);
    }
  }

  /** a failed event stream: the API's refusal when it answered one, else the server is unreachable */
  private async streamFailure(err: unknown): Promise<CliError> {
    if (err instanceof CliError) return err;
    const response = (err as { response?: Response })?.response;
    if (response) {
      const text = await response.text().catch(() => '');
      const data = /^data: (\{.*\})$/m.exec(text)?.[1] ?? text;
      try {
        const answer = JSON.parse(data) as GraphQLAnswer;
        if (answer.errors?.length) return apiFailure(answer.errors);
      } catch {
        // not a GraphQL answer
      }
      return new CliError(`the event stream was refused (HTTP ${response.status})`, response.status >= 500 ? EXIT.UNREACHABLE : EXIT.FAILED);
    }
    return unreachable(this.url, err);
  }

  close(): void {
    this.sse?.dispose();
  }
}
