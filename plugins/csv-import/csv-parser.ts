/**
 * A streaming CSV reader working on bytes, so that the byte offset of every record boundary is
 * exact and a run can resume from it in a later iteration (or on another node).
 *
 * Format (RFC 4180, with the usual leniencies): fields separated by a one-byte delimiter; records
 * ended by LF, CRLF or CR; a field in double quotes may hold delimiters, line breaks and doubled
 * quotes (""); a quote inside an unquoted field is kept literally; blank lines are skipped; a UTF-8
 * BOM at the start of the file is skipped. The delimiter, quote and line breaks are ASCII, and no
 * byte of a multi-byte UTF-8 sequence is ASCII, so splitting on bytes never cuts a character.
 */
import { createReadStream, type ReadStream } from 'node:fs';

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

export class CsvFormatError extends Error {
  readonly code: 'CSV_MALFORMED' | 'CSV_RECORD_TOO_LARGE';
  constructor(
    message: string,
    /** byte offset in the file where the problem is */
    readonly offset: number,
    code: 'CSV_MALFORMED' | 'CSV_RECORD_TOO_LARGE' = 'CSV_MALFORMED',
  ) {
    super(message);
    this.name = 'CsvFormatError';
    this.code = code;
  }
}

export interface ParsedRecord {
  fields: string[];
  /** index in the buffer just past the record (and its line break) */
  end: number;
  /** an empty line (no field, not even a quoted empty one): skipped by the reader */
  blank: boolean;
}

/**
 * Parses the record starting at `start`. Returns null when the buffer ends before the record does
 * and more bytes may follow (`eof` false). With `eof` true the end of the buffer ends the record.
 * `base` is the file offset of `buf[0]`, for error messages.
 */
export function parseRecord(buf: Uint8Array, start: number, delimiter: number, eof: boolean, base = 0): ParsedRecord | null {
  const len = buf.length;
  const fields: string[] = [];
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = start;
  const done = (end: number): ParsedRecord => ({ fields, end, blank: fields.length === 1 && fields[0] === '' && buf[start] !== QUOTE });
  for (;;) {
    let j: number;
    if (i < len && buf[i] === QUOTE) {
      j = i + 1;
      let segment = j;
      let value = '';
      for (;;) {
        if (j >= len) {
          if (!eof) return null;
          throw new CsvFormatError(`unterminated quoted field starting at byte ${base + i}`, base + i);
        }
        if (buf[j] === QUOTE) {
          if (j + 1 >= len && !eof) return null; // "" may be split across reads
          if (j + 1 < len && buf[j + 1] === QUOTE) {
            value += text.toString('utf8', segment, j + 1);
            j += 2;
            segment = j;
            continue;
          }
          value += text.toString('utf8', segment, j);
          j++;
          break;
        }
        j++;
      }
      fields.push(value);
      if (j < len && buf[j] !== delimiter && buf[j] !== LF && buf[j] !== CR) {
        throw new CsvFormatError(`unexpected character after the closing quote of a field, at byte ${base + j}`, base + j);
      }
    } else {
      j = i;
      while (j < len) {
        const c = buf[j];
        if (c === delimiter || c === LF || c === CR) break;
        j++;
      }
      if (j >= len && !eof) return null;
      fields.push(text.toString('utf8', i, j));
    }
    // j is at a delimiter, a line break, or the end of the buffer
    if (j >= len) {
      if (!eof) return null;
      return done(j);
    }
    const c = buf[j];
    if (c === delimiter) {
      i = j + 1;
      continue;
    }
    if (c === LF) return done(j + 1);
    // CR: CRLF or a lone CR
    if (j + 1 >= len) {
      if (!eof) return null;
      return done(j + 1);
    }
    return done(buf[j + 1] === LF ? j + 2 : j + 1);
  }
}

export interface CsvBatchRead {
  records: string[][];
  /** file offset of the first byte of the batch */
  startOffset: number;
  /** file offset just past the batch's last record: where the next read starts */
  endOffset: number;
  /** the file has no more records after this batch */
  eof: boolean;
}

export interface CsvReaderOptions {
  /** one ASCII byte (default `,`) */
  delimiter?: string;
  /** a record larger than this fails the read (default 1 MiB) */
  maxRecordBytes?: number;
  /** size of the stream's reads (default 64 KiB) */
  chunkBytes?: number;
}

/**
 * Reads records from a file starting at a byte offset, batch by batch, through a read stream.
 * Memory holds one chunk plus the record being assembled, never the file.
 */
export class CsvReader {
  private readonly stream: ReadStream;
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  private bomChecked: boolean;
  private readonly delimiter: number;
  private readonly maxRecordBytes: number;

  /** file offset of `pending[0]` */
  offset: number;

  constructor(file: string, offset: number, options: CsvReaderOptions = {}) {
    const delimiter = options.delimiter ?? ',';
    if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 0x7e || delimiter === '"' || delimiter === '\r' || delimiter === '\n') {
      throw new RangeError('the delimiter must be one ASCII character other than a quote or a line break');
    }
    this.delimiter = delimiter.charCodeAt(0);
    this.maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
    this.offset = offset;
    this.bomChecked = offset !== 0;
    this.stream = createReadStream(file, { start: offset, highWaterMark: options.chunkBytes ?? 64 * 1024 });
    this.chunks = this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** up to `max` records (blank lines skipped) */
  async read(max: number): Promise<CsvBatchRead> {
    const records: string[][] = [];
    let pos = 0;
    let startOffset: number | undefined;
    while (records.length < max) {
      if (this.ended && pos >= this.pending.length) break;
      const record = pos < this.pending.length || this.ended ? parseRecord(this.pending, pos, this.delimiter, this.ended, this.offset) : null;
      if (record === null) {
        this.consume(pos);
        pos = 0;
        if (this.pending.length > this.maxRecordBytes) {
          throw new CsvFormatError(`a record at byte ${this.offset} is larger than ${this.maxRecordBytes} bytes`, this.offset, 'CSV_RECORD_TOO_LARGE');
        }
        await this.fill();
        continue;
      }
      startOffset ??= this.offset + pos;
      pos = record.end;
      if (!record.blank) records.push(record.fields);
    }
    startOffset ??= this.offset + pos;
    this.consume(pos);
    // a batch that ends exactly where the data ends: look one read ahead, so the caller learns
    // about the end of the file now rather than from an empty batch
    if (!this.ended && this.pending.length === 0) await this.fill();
    return { records, startOffset, endOffset: this.offset, eof: this.ended && this.pending.length === 0 };
  }

  private consume(bytes: number): void {
    if (bytes === 0) return;
    this.offset += bytes;
    this.pending = this.pending.subarray(bytes);
  }

  private async fill(): Promise<void> {
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return;
    }
    const chunk = next.value;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.bomChecked && (this.pending.length >= 3 || this.ended)) {
      this.bomChecked = true;
      if (this.pending[0] === 0xef && this.pending[1] === 0xbb && this.pending[2] === 0xbf) this.consume(3);
    }
  }

  close(): void {
    this.stream.destroy();
  }
}

/** A record as an object keyed by the header (a null-prototype object: any header name is safe). */
export function csvRecord(header: readonly string[], row: readonly string[]): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  header.forEach((name, i) => {
    Object.defineProperty(out, name, { value: row[i] ?? '', enumerable: true, writable: true, configurable: true });
  });
  return out;
}
