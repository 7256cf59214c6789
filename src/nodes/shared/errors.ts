/** Message of anything thrown, for done(err) and status texts. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Status texts are short; the full text goes to the log and Catch nodes. */
export function shortText(text: string, max = 40): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}
