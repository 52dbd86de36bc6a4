/**
 * Text taken from mail, made fit for PostgreSQL. Mail carries what its types refuse: `text` cannot hold
 * a NUL, and `json`/`jsonb` refuse half of a surrogate pair (a rule's detail cut through an emoji). A
 * value refused for that fails the statement on every retry, so the MTA would get a 4xx for the same
 * message until it gives up days later. NULs are dropped; a lone surrogate becomes U+FFFD.
 */
export function storableText(text: string): string {
  if (text.includes('\0')) text = text.replaceAll('\0', '');
  return text.isWellFormed() ? text : text.toWellFormed();
}

/** storableText for an optional value. */
export function storableOptional(text: string | undefined): string | undefined {
  return text === undefined ? undefined : storableText(text);
}

/** JSON.stringify with every string in the value made storable. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? storableText(v) : v));
}
