/** One server-sent event: its `event:` name ('message' when none) and its `data:` lines joined. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * An incremental parser of a `text/event-stream` body, as the HTML standard's EventSource parses
 * one: lines end with CRLF, LF or CR (possibly split across chunks), `:` lines are comments
 * (graphql-yoga's keep-alive pings), `data:` lines accumulate, a blank line dispatches. The page
 * cannot use EventSource itself: it sends no `Authorization` header.
 */
export class SseParser {
  private buffer = '';
  private eventName = '';
  private data: string[] = [];
  private hasData = false;
  /** a chunk ended on CR: an LF starting the next chunk belongs to the same line end */
  private pendingCr = false;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  /** Feeds decoded text; dispatches every event it completes. */
  push(text: string): void {
    let chunk = text;
    if (this.pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCr = false;
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          this.pendingCr = true;
          next = cr + 1;
        } else {
          next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.hasData) this.onEvent({ event: this.eventName || 'message', data: this.data.join('\n') });
      this.eventName = '';
      this.data = [];
      this.hasData = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.eventName = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    }
    // `id` and `retry` are of no use here: a dropped subscription is opened again from scratch
  }
}
