/** Where the CSV import hands its records: a service the host binds (or the default counting sink). */

export interface CsvBatch {
  /** the run importing the file */
  runId: string;
  /** the file, as given in the run's input */
  file: string;
  /** the file's first record */
  header: readonly string[];
  /** the batch's data records, in file order; use `csvRecord(header, row)` for objects */
  rows: ReadonlyArray<readonly string[]>;
  /** 1-based number of the batch's first data row (the header is row 0): lets a sink be idempotent */
  firstRow: number;
  /** file offset of the batch's first byte */
  startOffset: number;
  /** file offset just past the batch: where the import resumes once this batch is written */
  endOffset: number;
  /** fires when the run is aborted or its iteration times out */
  signal: AbortSignal;
}

/**
 * The service identifier (and type) of the sink. The host binds its own before loading the plugin:
 *
 *   container.bind(CsvRecordSink).toConstantValue(new MyUserSink(db));
 *
 * A batch is written, then the import's offset is checkpointed: a batch whose write threw is not
 * counted and the run fails; after a crash the last batch may be handed over again (use `firstRow`).
 */
export abstract class CsvRecordSink {
  abstract write(batch: CsvBatch): Promise<void> | void;
}

/** The default sink, bound only when the host bound none: counts rows per run and per file. */
export class CountingCsvSink implements CsvRecordSink {
  rows = 0;
  batches = 0;
  readonly rowsByRun = new Map<string, number>();
  readonly rowsByFile = new Map<string, number>();

  write(batch: CsvBatch): void {
    this.rows += batch.rows.length;
    this.batches++;
    this.rowsByRun.set(batch.runId, (this.rowsByRun.get(batch.runId) ?? 0) + batch.rows.length);
    this.rowsByFile.set(batch.file, (this.rowsByFile.get(batch.file) ?? 0) + batch.rows.length);
  }
}
