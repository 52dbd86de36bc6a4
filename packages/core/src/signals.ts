/**
 * Small pure readings of a message's facts that several rules share: header values, address parts,
 * and organisational-domain alignment (the DMARC notion, from the Public Suffix List via tldts).
 */
import { getDomain } from 'tldts';
import type { MessageFacts } from './facts.js';
import { domainOf } from './address.js';

export function headerValues(message: MessageFacts, name: string): readonly string[] {
  return message.headers.get(name.toLowerCase()) ?? [];
}

export function firstHeader(message: MessageFacts, name: string): string | undefined {
  return headerValues(message, name)[0];
}

/**
 * The keyword of a header like Precedence or Auto-Submitted, as senders actually write it: lower
 * case, without (comments), quotes or a trailing `;` (`"bulk"`, `bulk;`, `(info) auto-replied`).
 */
export function headerKeyword(message: MessageFacts, name: string): string | undefined {
  const value = firstHeader(message, name);
  if (value === undefined) return undefined;
  return value.replace(/\([^)]*\)/g, ' ').replace(/["']/g, '').trim().split(/[\s;,]/)[0]!.toLowerCase();
}

export function localPartOf(address: string): string {
  const at = address.lastIndexOf('@');
  return (at < 0 ? address : address.slice(0, at)).toLowerCase();
}

/**
 * The registrable ("organisational") domain: `mail.example.co.uk` → `example.co.uk`. The whole public
 * suffix list, its private part included, as DMARC implementations read it: under `eu.org` or
 * `github.io` every name has its own owner, and `victim.eu.org` must not be aligned with
 * `attacker.eu.org`.
 */
export function organizationalDomain(domain: string): string {
  const d = domain.toLowerCase().replace(/\.$/, '');
  return getDomain(d, { allowPrivateDomains: true }) ?? d;
}

/** Relaxed DMARC-style alignment: both domains have the same organisational domain. */
export function alignedDomains(a: string, b: string): boolean {
  if (!a || !b) return false;
  return organizationalDomain(a) === organizationalDomain(b);
}

/** Whether the envelope sender's domain is authenticated: SPF pass for it, or a passing DKIM signature aligned with it. */
export function senderAuthenticated(message: MessageFacts): boolean {
  const auth = message.auth;
  if (!auth || !message.mailFrom) return false;
  const domain = domainOf(message.mailFrom);
  if (auth.spf.result === 'pass' && auth.spf.domain && auth.spf.domain.toLowerCase() === domain) return true;
  return auth.dkim.some((sig) => sig.result === 'pass' && alignedDomains(sig.domain, domain));
}
