/**
 * Mail addresses as crgate compares them. Users, aliases, list entries and senders are all stored in
 * this normal form, so a lookup is an equality test.
 *
 * Rules: the whole address is lower-cased (domains are case-insensitive by RFC 5321; local parts are in
 * theory case-sensitive but no mail system in practice treats `Alice@` and `alice@` as two people), and a
 * `+tag` sub-address is dropped so `alice+lists@example.org` is `alice@example.org` (inside quotes too, as
 * Postfix reads it: `"alice+(x)"@example.org` is `alice@example.org`). Quotes that are not
 * needed are dropped (`"alice"@example.org` is `alice@example.org`). An internationalised
 * domain is kept in its ASCII form (IDNA A-labels, `bücher.example` → `xn--bcher-kva.example`): the
 * MTA hands that form over, smtp-server turns it into Unicode, and DNS, SPF and the list entries a
 * person types may have either; one spelling makes them one domain.
 */
import { domainToASCII } from 'node:url';

// Control characters are refused too: no mail system hands out such an address, and PostgreSQL's
// text cannot hold a NUL.
const ADDRESS_RE = /^[^\s\x00-\x1f\x7f@<>()\[\],;:"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/**
 * A domain as crgate compares it: lower case, without a trailing root dot, a Unicode (U-label) name in
 * its ASCII (A-label) form. A name IDNA refuses is only lower-cased: it matches nothing but itself.
 */
export function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (!/[^\x00-\x7f]/.test(d)) return d;
  return domainToASCII(d) || d;
}

/**
 * The address with an internationalised domain written in its A-labels and everything else as it
 * was: the spelling of an address crgate sends on (a delivery, a challenge) that needs no SMTPUTF8.
 */
export function withAsciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0 || !/[^\x00-\x7f]/.test(address.slice(at + 1))) return address;
  const ascii = domainToASCII(address.slice(at + 1));
  return ascii ? `${address.slice(0, at)}@${ascii}` : address;
}

/** True when `value` looks like `local@domain` (the form crgate accepts on the command line and in lists). */
export function isAddress(value: string): boolean {
  if (value.length > 320) return false;
  const v = value.trim();
  const at = v.lastIndexOf('@');
  return ADDRESS_RE.test(at < 0 ? v : `${v.slice(0, at)}@${normalizeDomain(v.slice(at + 1))}`);
}

// RFC 5322 atext and the UTF-8 of RFC 6531, dot-separated: a local part of these needs no quotes.
const DOT_ATOM_RE = /^[^\s\x00-\x1f\x7f()<>[\]:;@\\,."]+(?:\.[^\s\x00-\x1f\x7f()<>[\]:;@\\,."]+)*$/;

/**
 * A quoted local part names the same mailbox as its content written plainly, when that needs no quotes
 * (RFC 5321 4.1.2: `"bob"@example.org` is `bob@example.org`). One that does keeps its quotes, with a
 * backslash only before `"` and `\`.
 */
function unquoteLocalPart(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  const content = local.slice(1, -1).replace(/\\(.)/g, '$1');
  return DOT_ATOM_RE.test(content) ? content : `"${content.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Lower-cases an address in Unicode's composed form (NFC), unquotes a local part that needs no quotes
 * and drops its `+tag`. Does not validate: callers at the edge use isAddress.
 */
export function normalizeAddress(value: string): string {
  // NFC (RFC 6532 3.1): `jörg` written as o + U+0308 is the same local part as with the single `ö`.
  const trimmed = value.trim().replace(/^<|>$/g, '').normalize('NFC').toLowerCase();
  const at = trimmed.lastIndexOf('@');
  if (at < 0) return trimmed;
  let local = unquoteLocalPart(trimmed.slice(0, at));
  const domain = normalizeDomain(trimmed.slice(at + 1));
  // The tag is cut inside quotes too, as Postfix's recipient_delimiter does: Postfix accepts
  // "alice+(x)"@ for alice, and a recipient it accepted and crgate refused would bounce to the
  // (forgeable) sender. The quotes of the rest are decided again ("alice" needs none). Only `"` and `\`
  // are escaped here, so the first `+` is never an escaped character.
  const quoted = local.length > 1 && local.startsWith('"') && local.endsWith('"');
  const plus = local.indexOf('+', quoted ? 1 : 0);
  if (plus > (quoted ? 1 : 0)) local = quoted ? unquoteLocalPart(`${local.slice(0, plus)}"`) : local.slice(0, plus);
  return `${local}@${domain}`;
}

/** The domain of a (normalised or not) address, lower-cased; empty for the null sender. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : normalizeDomain(address.slice(at + 1));
}

/** The domain itself and each parent domain: `a.b.example.org` → [`a.b.example.org`, `b.example.org`, `example.org`, `org`]. */
export function domainAndParents(domain: string): string[] {
  const labels = domain.toLowerCase().split('.').filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** True when `child` equals `parent` or is a subdomain of it. */
export function isSameOrSubdomain(child: string, parent: string): boolean {
  const c = normalizeDomain(child);
  const p = normalizeDomain(parent);
  return c === p || c.endsWith(`.${p}`);
}
