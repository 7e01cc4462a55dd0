import { INSERT_COLUMNS, INSERT_ID, INSERT_KEY, type InsertRow } from './insert-row';

/** One insert statement (prepared by name on each connection). */
export interface InsertStatement {
  name: string;
  text: string;
  values: string[];
}

/**
 * The insert of a batch as one statement over parallel arrays (one per column). Columns that
 * every row of the batch leaves at their default (NULL, 0, false) are left out, and a column
 * every row sets to the same value (definition, name, status, often the creation time and due
 * time of a burst) is sent once as a scalar: a batch of fresh runs parses one or two arrays.
 * The statement text depends only on which columns are present and which are scalars, so each
 * variant is prepared once per connection.
 */
export class InsertStatements {
  private readonly cache = new Map<string, string>();

  /** @param s the quoted schema */
  constructor(private readonly s: string) {}

  /**
   * The insert that skips conflicts (answering the ids inserted) and, when no row has an
   * idempotency key, the plain insert (all or nothing, nothing returned).
   */
  build(rows: InsertRow[]): InsertStatement & { plain?: { name: string; text: string } } {
    // per column: present (some row sets it), one (every row sets it to the same value: sent
    // once); flags rather than bit masks, as there are more than 31 columns
    const n = INSERT_COLUMNS.length;
    const present = new Uint8Array(n);
    const one = new Uint8Array(n).fill(1);
    one[INSERT_ID] = 0; // the id is always an array
    for (let c = 0; c < n; c++) if (!INSERT_COLUMNS[c].optional) present[c] = 1;
    const first = rows[0];
    for (const row of rows) {
      for (let c = 0; c < n; c++) {
        const v = row[c];
        if (present[c] === 0 && v !== null && v !== INSERT_COLUMNS[c].fallback) present[c] = 1;
        if (one[c] === 1 && v !== first[c]) one[c] = 0;
      }
    }
    const values: string[] = [];
    // the statement's variant: per column 0 (left out), 1 (an array) or 2 (one value), three columns a character
    let signature = '';
    for (let c = 0; c < n; c += 3) {
      let digit = 0;
      for (let k = 2; k >= 0; k--) digit = digit * 3 + (c + k < n ? (present[c + k] === 0 ? 0 : one[c + k] === 1 ? 2 : 1) : 0);
      signature += digit.toString(36);
    }
    for (let c = 0; c < n; c++) {
      if (present[c] === 0) continue;
      if (one[c] === 1) values.push(first[c] === null ? (null as unknown as string) : String(first[c]));
      else values.push(INSERT_COLUMNS[c].array(rows.map((row) => row[c])));
    }
    let text = this.cache.get(signature);
    let plainText = this.cache.get(`plain_${signature}`);
    if (text === undefined || plainText === undefined) {
      const names: string[] = [];
      const exprs: string[] = [];
      const arrayParams: string[] = [];
      const arrayNames: string[] = [];
      let param = 0;
      for (let c = 0; c < n; c++) {
        if (present[c] === 0) continue;
        const col = INSERT_COLUMNS[c];
        param++;
        names.push(col.name);
        const value = one[c] === 1 ? `$${param}::${col.sqlType}` : `x.${col.name}`;
        if (one[c] === 0) {
          arrayParams.push(`$${param}::${col.sqlType}[]`);
          arrayNames.push(col.name);
        }
        exprs.push(col.json ? `${value}::json` : value);
      }
      const columnList = names.join(', ');
      const selectList = exprs.join(', ');
      const arrays = arrayParams.join(', ');
      const arrayColumns = arrayNames.join(', ');
      text = `insert into ${this.s}.runs (${columnList})
         select ${selectList} from unnest(${arrays}) as x(${arrayColumns})
         on conflict do nothing
         returning id`;
      plainText = `insert into ${this.s}.runs (${columnList})
         select ${selectList} from unnest(${arrays}) as x(${arrayColumns})`;
      this.cache.set(signature, text);
      this.cache.set(`plain_${signature}`, plainText);
    }
    const keyed = present[INSERT_KEY] === 1;
    return {
      name: `tasklane_insert_${signature}`,
      text,
      values,
      plain: keyed ? undefined : { name: `tasklane_insert_plain_${signature}`, text: plainText },
    };
  }
}
