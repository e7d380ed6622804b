// SQL quoting, apart from the DuckDB session so that modules which only build SQL text (the chart
// registry, which the CLI reads to list charts) load without the database client.

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
