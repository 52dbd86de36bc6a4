/**
 * DNS for authentication and sender checks: the configured servers (or the system's), a per-query
 * timeout, and a small cache of answers and of "no such name/record" (the negative answers are what a
 * spam run asks for most). Failures other than NXDOMAIN/NODATA are passed on as they are, so mailauth
 * reports temperror — never a fail — when DNS is in trouble.
 */
import { promises as dns } from 'node:dns';

export type ResolveFn = (name: string, rrtype: string) => Promise<unknown>;

export interface DnsOptions {
  servers: string[];
  timeoutMs: number;
  cacheSeconds: number;
  /** Most cached answers kept. */
  maxEntries?: number;
}

const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

export function createResolver(options: DnsOptions): ResolveFn {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs, tries: 2 });
  if (options.servers.length) resolver.setServers(options.servers);
  const cache = new Map<string, { until: number; value?: unknown; error?: NodeJS.ErrnoException }>();
  const max = options.maxEntries ?? 10_000;
  const ttl = options.cacheSeconds * 1000;

  return async (name, rrtype) => {
    const key = `${rrtype}\0${name.toLowerCase()}`;
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) {
      if (hit.error) throw hit.error;
      return hit.value;
    }
    try {
      const value = await resolver.resolve(name, rrtype as 'A');
      if (ttl > 0) remember(key, { until: now + ttl, value });
      return value;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (ttl > 0 && e.code && NEGATIVE.has(e.code)) remember(key, { until: now + Math.min(ttl, 60_000), error: e });
      throw e;
    }
  };

  function remember(key: string, entry: { until: number; value?: unknown; error?: NodeJS.ErrnoException }): void {
    if (cache.size >= max) cache.delete(cache.keys().next().value as string);
    cache.set(key, entry);
  }
}

/**
 * Whether a domain can receive mail: true with an MX (other than a null MX, RFC 7505) or, without
 * MX, an A or AAAA record; false when DNS says none exist; undefined when DNS could not tell.
 */
export async function isDomainRoutable(resolve: ResolveFn, domain: string): Promise<boolean | undefined> {
  if (!domain) return undefined;
  const answer = async (rrtype: string): Promise<unknown[] | null | undefined> => {
    try {
      return (await resolve(domain, rrtype)) as unknown[];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code && NEGATIVE.has(code)) return null;
      return undefined;
    }
  };
  const mx = (await answer('MX')) as Array<{ exchange: string }> | null | undefined;
  if (mx === undefined) return undefined;
  if (mx && mx.length) return !(mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.'));
  const [a, aaaa] = await Promise.all([answer('A'), answer('AAAA')]);
  if ((a && a.length) || (aaaa && aaaa.length)) return true;
  if (a === undefined || aaaa === undefined) return undefined;
  return false;
}
