/**
 * SQL that formats a timestamptz column as the envelope's ISO-8601 UTC text with milliseconds
 * (`2026-11-30T18:00:00.000Z`), on the server: parsing into a Date and back costs measurable time per row.
 */
export function isoText(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
