import type { IterationUpdate } from '../../../ports/storage';
import { pgScalarArray, pgTextArray } from './pg-arrays';
import { cols } from './run-row';

/**
 * The columns an update sets, in the order of {@link UpdateValues}; `set` is the fixed SET
 * clause for a value expression (a parameter or an unnest() column; for `error`, the value
 * expression that the statement assigns), `unset` the value meaning "leave the column as it is".
 */
const UPDATE_COLUMNS: ReadonlyArray<{
  name: keyof UpdateValues;
  sqlType: 'text' | 'bigint' | 'integer';
  unset: string | number | null;
  set: (v: string) => string;
}> = [
  { name: 'status', sqlType: 'text', unset: null, set: (v) => `status = ${v}` },
  { name: 'due_at', sqlType: 'bigint', unset: null, set: (v) => `due_at = coalesce(${v}, r.due_at)` },
  {
    name: 'input',
    sqlType: 'text',
    unset: null,
    // the first change of input keeps the original (SET expressions read the row as it was)
    set: (v) =>
      `original_input = case when ${v} is not null then coalesce(r.original_input, r.input) else r.original_input end, input = coalesce(${v}::json, r.input)`,
  },
  { name: 'output', sqlType: 'text', unset: null, set: (v) => `output = coalesce(${v}::json, r.output)` },
  // an expression, not an assignment: the statement assigns it unless the update is a success
  // (which clears the error: the failure of an execution that was retried)
  { name: 'error', sqlType: 'text', unset: null, set: (v) => `coalesce(${v}::json, r.error)` },
  { name: 'progress', sqlType: 'text', unset: null, set: (v) => `progress = coalesce(${v}::json, r.progress)` },
  { name: 'finished_on', sqlType: 'text', unset: null, set: (v) => `finished_on = coalesce(${v}, r.finished_on)` },
  { name: 'finished_at', sqlType: 'bigint', unset: null, set: (v) => `finished_at = coalesce(${v}, r.finished_at)` },
  {
    name: 'undo',
    sqlType: 'integer',
    unset: 0,
    set: (v) =>
      `attempt = greatest(0, r.attempt - (${v} & 1)), iterations = greatest(0, r.iterations - (${v} >> 1)),
       started_on = case when (${v} & 1) = 1 and r.attempt <= 1 then null else r.started_on end,
       node_id = case when (${v} & 1) = 1 and r.attempt <= 1 then null else r.node_id end`,
  },
  {
    name: 'retry',
    sqlType: 'integer',
    unset: 0,
    set: (v) => `retries = r.retries + ${v}, iteration_base = case when ${v} = 1 then r.iterations else r.iteration_base end`,
  },
];

/** The values of a batch's updates, one array per column (index k: the k-th update). */
export interface UpdateValues {
  status: string[];
  due_at: Array<number | null>;
  input: Array<string | null>;
  output: Array<string | null>;
  error: Array<string | null>;
  progress: Array<string | null>;
  finished_on: Array<string | null>;
  finished_at: Array<number | null>;
  undo: number[];
  retry: number[];
}

/** 1 for the update of a run going back to pending for a retry (see IterationUpdate.retry) */
export function retryBit(u: IterationUpdate): number {
  return u.retry === true && u.status === 'pending' ? 1 : 0;
}

/** bit 0: the attempt is undone too (a claim given back), bit 1: the iteration is undone */
export function undoBits(u: IterationUpdate): number {
  return u.unclaim === true ? (u.status === 'pending' ? 3 : 2) : 0;
}

/** What a slim update answers per run: what another writer may change while the run is leased. */
export interface SlimUpdateRow {
  req: number;
  abort_requested: boolean;
  log_count: number;
  progress: string | null;
}

/**
 * One statement per batch, applied where the run is still `running` under the update's lease
 * token. Ids and tokens come as arrays in id order and the join runs through unnest(), so rows
 * are locked in id order. Each other column (UPDATE_COLUMNS) is left out when no update of the
 * batch sets it, sent once when all set the same value (a batch of completions shares status,
 * finish time and no undo), else as an array: most batches parse two arrays, not eleven.
 * `slim` reads back only the columns another writer may change while the run is leased (abort
 * request, log count, progress: {@link SlimUpdateRow}): the caller knows the rest from the claim
 * (see completedRun); otherwise the whole row is returned, with `req`.
 */
export class UpdateStatements {
  private readonly cache = new Map<string, string>();

  /** @param s the quoted schema */
  constructor(private readonly s: string) {}

  build(slim: boolean, req: number[], ids: string[], tokens: string[], columns: UpdateValues): { name: string; text: string; values: string[] } {
    const values = [pgScalarArray(req), pgTextArray(ids), pgTextArray(tokens)];
    const modes: Array<'omit' | 'one' | 'all'> = [];
    for (const col of UPDATE_COLUMNS) {
      const vals: Array<string | number | null> = columns[col.name];
      const first = vals[0];
      let same = true;
      let anySet = false;
      for (let k = 0; k < vals.length; k++) {
        if (vals[k] !== first) same = false;
        if (vals[k] !== null && vals[k] !== col.unset) anySet = true;
      }
      if (!anySet) modes.push('omit');
      else if (same) {
        modes.push('one');
        values.push(String(first));
      } else {
        modes.push('all');
        values.push(col.sqlType === 'text' ? pgTextArray(vals as Array<string | null>) : pgScalarArray(vals as Array<number | null>));
      }
    }
    const signature = `${slim ? 's' : 'f'}${modes.map((m) => (m === 'omit' ? 0 : m === 'one' ? 1 : 2)).join('')}`;
    let text = this.cache.get(signature);
    if (text === undefined) {
      const arrays = ['$1::int[]', '$2::text[]', '$3::text[]'];
      const names = ['req', 'id', 'lease_token'];
      const sets: string[] = [];
      let param = 3;
      let status = '';
      let error = 'r.error';
      for (let c = 0; c < UPDATE_COLUMNS.length; c++) {
        const col = UPDATE_COLUMNS[c];
        if (modes[c] === 'omit') continue;
        param++;
        let value: string;
        if (modes[c] === 'one') value = `$${param}::${col.sqlType}`;
        else {
          arrays.push(`$${param}::${col.sqlType}[]`);
          names.push(col.name);
          value = `x.${col.name}`;
        }
        if (col.name === 'status') status = value;
        if (col.name === 'error') error = col.set(value);
        else sets.push(col.set(value));
      }
      // every update sets a status; a success clears the error (the failure of an execution that was retried)
      sets.push(`error = case when ${status} = 'success' then null else ${error} end`);
      const setList = sets.join(', ');
      const arrayList = arrays.join(', ');
      const nameList = names.join(', ');
      const returning = slim ? 'x.req, r.abort_requested, r.log_count, r.progress' : `x.req, ${cols('r')}`;
      text = `update ${this.s}.runs r set ${setList}, lease_token = null, lease_expires_at = null
        from unnest(${arrayList}) as x(${nameList})
        where r.id = x.id and r.status = 'running' and r.lease_token = x.lease_token
        returning ${returning}`;
      this.cache.set(signature, text);
    }
    return { name: `tasklane_update_${signature}`, text, values };
  }
}
