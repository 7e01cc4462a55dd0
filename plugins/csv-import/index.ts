/**
 * csv-import: a task that imports a large CSV file in batches, across as many iterations as it
 * takes, without ever holding the file in memory.
 *
 *   await service.trigger({ definition: 'csv.import', input: { file: './data/users.csv', batchSize: 500 } });
 *
 * Each batch of records goes to the `CsvRecordSink` the host bound (the plugin binds a counting
 * sink only when the host bound none). After each batch the byte offset, the row count and the
 * header are checkpointed in the run's `store`, so the next iteration (or another node taking the
 * run over) resumes from the exact record boundary. Between batches the task checks for an abort
 * (it answers `aborted()`, the store keeping the offset) and answers `continue()` when the
 * iteration is close to its timeout or every `batchesPerIteration` batches. Progress is the bytes
 * read over the file's size. A missing file fails the run with code `CSV_FILE_NOT_FOUND`; a file
 * that changes under a running import fails it with `CSV_FILE_CHANGED`; a malformed file with
 * `CSV_MALFORMED` (and the byte offset in `error.data`).
 */
import 'reflect-metadata';
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ContainerModule } from 'inversify';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { InvalidArgumentError, TaskDefinition, definePlugin, type RunError, type TaskResponse, type TaskRunParams, type TasklanePlugin } from '../../src';
import { CsvFormatError, CsvReader } from './csv-parser';
import { CountingCsvSink, CsvRecordSink } from './csv-sink';

export { CsvFormatError, CsvReader, csvRecord, parseRecord, type CsvBatchRead, type CsvReaderOptions } from './csv-parser';
export { CountingCsvSink, CsvRecordSink, type CsvBatch } from './csv-sink';

export const CSV_IMPORT_TASK_ID = 'csv.import';

/** The container token under which the plugin binds its resolved options. */
export const CSV_IMPORT_OPTIONS = Symbol.for('tasklane.plugins.csv-import.options');

/** The run's store key holding its {@link CsvImportState}. */
export const CSV_STATE_KEY = 'csv';

export interface CsvImportOptions {
  /** ms one iteration may take (default 60 s); the task checkpoints before the last tenth of it */
  iterationTimeout?: number;
  /** batches per iteration before the run checkpoints with continue() (default 100) */
  batchesPerIteration?: number;
  /** iterations of one run at most (default 100,000) */
  maxIterations?: number;
  /** a record larger than this fails the run (default 1 MiB) */
  maxRecordBytes?: number;
  /** when set, files must resolve inside this folder (relative paths are taken from it) */
  root?: string;
  /** imports running at once (default unlimited) */
  concurrency?: number;
}

export interface ResolvedCsvImportOptions {
  iterationTimeout: number;
  batchesPerIteration: number;
  maxIterations: number;
  maxRecordBytes: number;
  root?: string;
  concurrency?: number;
}

export const CSV_IMPORT_DEFAULTS: Readonly<ResolvedCsvImportOptions> = Object.freeze({
  iterationTimeout: 60_000,
  batchesPerIteration: 100,
  maxIterations: 100_000,
  maxRecordBytes: 1024 * 1024,
});

export const DEFAULT_CSV_BATCH_SIZE = 1000;

export class CsvImportInput {
  /** the CSV file (relative paths: from the process's working directory, or from the plugin's `root`) */
  @IsString()
  @MinLength(1)
  @MaxLength(4096)
  @Matches(/^[^\0]*$/, { message: 'file must not contain NUL characters' })
  file!: string;

  /** records handed to the sink at once (default 1000) */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(50_000)
  batchSize?: number;

  /** one printable ASCII character other than a double quote, or a tab (default ",") */
  @IsOptional()
  @IsString()
  @Matches(/^[\t !#-~]$/, { message: 'delimiter must be one printable ASCII character other than a double quote, or a tab' })
  delimiter?: string;

  /** overrides the plugin's batchesPerIteration for this run */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  batchesPerIteration?: number;
}

/** What the import keeps in the run's store (under {@link CSV_STATE_KEY}) after each batch. */
export interface CsvImportState {
  /** file offset where the next batch starts */
  offset: number;
  /** data rows handed to the sink so far */
  rows: number;
  /** the file's first record; null until it was read */
  header: string[] | null;
  batches: number;
  /** the file's size and mtime when the import began: a file changed meanwhile fails the run */
  size: number;
  mtimeMs: number;
}

export interface CsvImportOutput {
  rows: number;
  file: string;
  bytes: number;
}

function fileError(err: unknown, file: string): RunError {
  const code = (err as { code?: unknown })?.code;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return { message: `CSV file not found: ${file}`, code: 'CSV_FILE_NOT_FOUND', data: { file } };
  if (code === 'EACCES' || code === 'EPERM') return { message: `CSV file not readable: ${file}`, code: 'CSV_FILE_UNREADABLE', data: { file } };
  if (code === 'EISDIR') return { message: `not a file: ${file}`, code: 'CSV_NOT_A_FILE', data: { file } };
  return { message: `cannot read the CSV file ${file}: ${reason}`, code: 'CSV_FILE_UNREADABLE', data: { file } };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The import task. `csvImportPlugin()` registers a configured subclass of it. */
export class CsvImportTask implements TaskDefinition<CsvImportInput, CsvImportOutput> {
  constructor(
    private readonly sink: CsvRecordSink,
    private readonly options: ResolvedCsvImportOptions,
  ) {}

  private resolveFile(file: string): string | RunError {
    const root = this.options.root;
    if (root === undefined) return resolve(file);
    const path = resolve(root, file);
    const rel = relative(root, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      return { message: `CSV file ${file} is outside the import folder`, code: 'CSV_FILE_OUTSIDE_ROOT', data: { file } };
    }
    return path;
  }

  async run({ input, controller, run }: TaskRunParams<CsvImportInput, CsvImportOutput>): Promise<TaskResponse<CsvImportOutput>> {
    const { response, runtime, store } = controller;
    const path = this.resolveFile(input.file);
    if (typeof path !== 'string') return response.error(path);

    let size: number;
    let mtimeMs: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) return response.error({ message: `not a file: ${input.file}`, code: 'CSV_NOT_A_FILE', data: { file: input.file } });
      size = st.size;
      mtimeMs = st.mtimeMs;
    } catch (err) {
      return response.error(fileError(err, input.file));
    }

    let state = await store.get<CsvImportState>(CSV_STATE_KEY);
    if (!state) {
      state = { offset: 0, rows: 0, header: null, batches: 0, size, mtimeMs };
      controller.log.info(`importing ${input.file} (${mib(size)})`, { file: input.file, size });
    } else if (state.size !== size || state.mtimeMs !== mtimeMs) {
      return response.error({
        message: `CSV file ${input.file} changed during the import (size ${state.size} -> ${size})`,
        code: 'CSV_FILE_CHANGED',
        data: { file: input.file, offset: state.offset },
      });
    }

    const batchSize = input.batchSize ?? DEFAULT_CSV_BATCH_SIZE;
    const perIteration = input.batchesPerIteration ?? this.options.batchesPerIteration;
    const aborted = (): TaskResponse<CsvImportOutput> => {
      controller.log.warn(`aborted after ${state!.rows} rows, at byte ${state!.offset} of ${size}`, { rows: state!.rows, offset: state!.offset });
      return response.aborted();
    };
    const reader = new CsvReader(path, state.offset, { delimiter: input.delimiter ?? ',', maxRecordBytes: this.options.maxRecordBytes });
    try {
      for (let batches = 0; ;) {
        if (runtime.isAborted()) return aborted();
        const read = await reader.read(state.header ? batchSize : batchSize + 1);
        let header: string[] | null = state.header;
        let rows = read.records;
        if (header === null && rows.length > 0) {
          header = rows[0];
          rows = rows.slice(1);
        }
        if (rows.length > 0 && header !== null) {
          await this.sink.write({
            runId: run.id,
            file: input.file,
            header,
            rows,
            firstRow: state.rows + 1,
            startOffset: read.startOffset,
            endOffset: read.endOffset,
            signal: controller.signal,
          });
        }
        state = { ...state, header, offset: read.endOffset, rows: state.rows + rows.length, batches: state.batches + 1 };
        await store.set(CSV_STATE_KEY, state);
        controller.progress({ info: `${state.rows} rows, ${mib(state.offset)} of ${mib(size)}`, current: state.offset, total: size });
        if (read.eof) {
          controller.log.info(`imported ${state.rows} rows from ${input.file}`, { rows: state.rows, bytes: state.offset, batches: state.batches });
          return response.done({ rows: state.rows, file: input.file, bytes: state.offset });
        }
        batches++;
        if (runtime.isCloseToTimeout() || batches >= perIteration) return runtime.isAborted() ? aborted() : response.continue();
      }
    } catch (err) {
      // the sink may throw because the run's signal fired: that is the abort, not a failure
      if (runtime.isAborted()) return aborted();
      if (err instanceof CsvFormatError) {
        return response.error({ message: `${input.file}: ${err.message}`, code: err.code, data: { file: input.file, offset: err.offset, rows: state.rows } });
      }
      if (typeof (err as { code?: unknown })?.code === 'string' && (err as { syscall?: unknown }).syscall !== undefined) {
        return response.error(fileError(err, input.file));
      }
      throw err;
    } finally {
      reader.close();
    }
  }
}

function checkInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`csvImportPlugin(): ${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

export function resolveCsvImportOptions(options: CsvImportOptions = {}): ResolvedCsvImportOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('csvImportPlugin() takes an options object');
  const d = CSV_IMPORT_DEFAULTS;
  const pick = (name: keyof CsvImportOptions & keyof ResolvedCsvImportOptions, min: number, max: number): number =>
    options[name] === undefined ? (d[name] as number) : checkInt(options[name], name, min, max);
  const resolved: ResolvedCsvImportOptions = {
    iterationTimeout: pick('iterationTimeout', 10, 24 * 3600_000),
    batchesPerIteration: pick('batchesPerIteration', 1, 1_000_000),
    maxIterations: pick('maxIterations', 1, 10_000_000),
    maxRecordBytes: pick('maxRecordBytes', 1024, 1024 * 1024 * 1024),
  };
  if (options.concurrency !== undefined) resolved.concurrency = checkInt(options.concurrency, 'concurrency', 1, 1_000_000);
  if (options.root !== undefined) {
    if (typeof options.root !== 'string' || options.root === '') throw new InvalidArgumentError('csvImportPlugin(): root must be a folder path');
    resolved.root = resolve(options.root);
  }
  return resolved;
}

/**
 * The plugin, configured. Its ContainerModule binds the options under CSV_IMPORT_OPTIONS and, when
 * the host has not bound `CsvRecordSink`, a `CountingCsvSink`.
 */
export function csvImportPlugin(options: CsvImportOptions = {}): TasklanePlugin {
  const resolved = resolveCsvImportOptions(options);
  class ConfiguredCsvImportTask extends CsvImportTask {}
  const task = TaskDefinition.createImplementation<CsvImportInput, CsvImportOutput>({
    implementation: ConfiguredCsvImportTask,
    dependencies: [CsvRecordSink, CSV_IMPORT_OPTIONS],
    meta: {
      id: CSV_IMPORT_TASK_ID,
      title: 'Import a CSV file',
      description: 'Reads a CSV file in batches, checkpointing its offset, and hands the records to the CsvRecordSink',
      input: CsvImportInput,
      iterationTimeout: resolved.iterationTimeout,
      maxIterations: resolved.maxIterations,
      ...(resolved.concurrency !== undefined ? { concurrency: resolved.concurrency } : {}),
    },
  });
  const module = new ContainerModule(({ bind, isBound }) => {
    bind<ResolvedCsvImportOptions>(CSV_IMPORT_OPTIONS).toConstantValue(Object.freeze({ ...resolved }));
    if (!isBound(CsvRecordSink)) bind<CsvRecordSink>(CsvRecordSink).toConstantValue(new CountingCsvSink());
  });
  return definePlugin({ name: 'csv-import', module, tasks: [task] });
}

const plugin: TasklanePlugin = csvImportPlugin();
export default plugin;
