/**
 * A piece of mail text for a reason's detail: at most `max` UTF-16 units, and never half of a
 * character. A plain slice can cut an emoji in two; the lone half is not valid Unicode, and stored
 * reasons (PostgreSQL jsonb) refuse it.
 */
export function excerpt(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  // A high surrogate at the end of the cut: its low half was left out, so leave it out too.
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
