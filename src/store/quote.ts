// SQL quoting, apart from the DuckDB session so that modules which only build SQL text (the chart
// registry, which the CLI reads to list charts) load without the database client.

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * Why an event's rows cannot go into its typed table as typed now: its columns (`name TYPE, ...`)
 * unlike the table's. Ingest's error adds the file and line; here because the parsing worker, which
 * must not load DuckDB, says it too.
 */
export function tableDiffers(event: string, table: string, shape: string, have: string): string {
  return `${event} is typed (${shape}) unlike the rows already in table ${table} (${have}); ingest this trace into a database of its own`;
}
