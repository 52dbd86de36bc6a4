import { describe, expect, it } from 'vitest';
import { promises as dns } from 'node:dns';
import { ConfigError, loadConfig } from '../src/index.js';

function problems(env: Record<string, string>, file?: unknown): string[] {
  try {
    loadConfig(env, file);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/crgate');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.lmtp.listen).toEqual({ host: '127.0.0.1', port: 2424 });
    expect(c.web.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.deliverTo).toEqual({ kind: 'maildir', dir: './data/mail' });
    expect(c.smtpRelay).toEqual({ host: '127.0.0.1', port: 25 });
    expect(c.challenge.from).toBe('crgate@localhost');
    expect(c.lmtp.maxSize).toBe(25 * 1024 * 1024);
    expect(c.challenge).toMatchObject({ tokenTtlDays: 14, perPairDays: 7, perSenderPerHour: 5, globalPerHour: 1000 });
    expect(c.retention).toEqual({ heldDays: 30, discardedDays: 7, historyDays: 180 });
    expect(c.secret).toBeUndefined();
  });

  it('reads every documented variable', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u@db:5433/mail',
      REDIS_URL: 'redis://cache:6380',
      CRGATE_LMTP_LISTEN: '0.0.0.0:24',
      CRGATE_WEB_LISTEN: '[::1]:8443',
      CRGATE_PUBLIC_URL: 'https://cr.example.org/',
      CRGATE_DELIVER_TO: 'lmtp://127.0.0.1:2425',
      CRGATE_SMTP_RELAY: 'smtp://127.0.0.1:2526',
      CRGATE_CHALLENGE_FROM: 'confirm@example.org',
      CRGATE_SECRET: 'x'.repeat(40),
    });
    expect(c.databaseUrl).toBe('postgres://u@db:5433/mail');
    expect(c.redisUrl).toBe('redis://cache:6380');
    expect(c.lmtp.listen).toEqual({ host: '0.0.0.0', port: 24 });
    expect(c.web.listen).toEqual({ host: '::1', port: 8443 });
    expect(c.publicUrl).toBe('https://cr.example.org');
    expect(c.deliverTo).toEqual({ kind: 'lmtp', host: '127.0.0.1', port: 2425 });
    expect(c.smtpRelay).toEqual({ host: '127.0.0.1', port: 2526 });
    expect(c.challenge.from).toBe('confirm@example.org');
    expect(c.secret).toBe('x'.repeat(40));
  });

  it('refuses a database or Redis address without its scheme or database, naming the variable, rather than failing at start', () => {
    expect(problems({ DATABASE_URL: 'localhost:5432/crgate' })).toEqual([
      'DATABASE_URL (databaseUrl): expected postgres://user@host:port/database, got "localhost:5432/crgate"',
    ]);
    expect(problems({ DATABASE_URL: 'mysql://db/crgate' })[0]).toMatch(/^DATABASE_URL \(databaseUrl\): expected postgres:\/\//);
    expect(problems({ DATABASE_URL: 'postgres://db:5432' })).toEqual(['DATABASE_URL (databaseUrl): names no database: expected postgres://user@host:port/database']);
    expect(problems({ REDIS_URL: 'localhost:6379' })).toEqual([
      'REDIS_URL (redisUrl): expected redis://host:port or rediss://host:port, with an optional /database number, got "localhost:6379"',
    ]);
    expect(problems({ REDIS_URL: 'redis://cache:6379/queues' })).toEqual([
      'REDIS_URL (redisUrl): the path must be a database number (redis://host:port/0), not "/queues"',
    ]);
    expect(loadConfig({ DATABASE_URL: 'postgresql:///crgate?host=/run/postgresql', REDIS_URL: 'rediss://:pw@cache:6380/2' })).toMatchObject({
      databaseUrl: 'postgresql:///crgate?host=/run/postgresql',
      redisUrl: 'rediss://:pw@cache:6380/2',
    });
  });

  it('takes a host name for the LMTP hostname, which is sent as LHLO and EHLO downstream, and refuses one with a space', () => {
    expect(loadConfig({ CRGATE_LMTP_HOSTNAME: 'crgate.mx1.example.org' }).lmtp.hostname).toBe('crgate.mx1.example.org');
    for (const value of ['crgate mx', ' ', 'mx1.example.org.']) {
      expect(problems({ CRGATE_LMTP_HOSTNAME: value })).toEqual([
        `CRGATE_LMTP_HOSTNAME (lmtp.hostname): expected a host name (letters, digits, - and .), got ${JSON.stringify(value.trim())}`,
      ]);
    }
  });

  it('accepts smtp:// and maildir: delivery targets', () => {
    expect(loadConfig({ CRGATE_DELIVER_TO: 'smtp://mta.local:10026' }).deliverTo).toEqual({ kind: 'smtp', host: 'mta.local', port: 10026 });
    expect(loadConfig({ CRGATE_DELIVER_TO: 'maildir:/var/mail/cr' }).deliverTo).toEqual({ kind: 'maildir', dir: '/var/mail/cr' });
  });

  it('names the variable and the reason for a bad value', () => {
    expect(problems({ CRGATE_LMTP_LISTEN: 'localhost' })).toEqual([
      'CRGATE_LMTP_LISTEN (lmtp.listen): expected host:port (e.g. 127.0.0.1:2424), got "localhost"',
    ]);
    expect(problems({ CRGATE_DELIVER_TO: 'imap://x:1' })[0]).toMatch(/^CRGATE_DELIVER_TO \(deliverTo\): expected lmtp:\/\/host:port/);
    expect(problems({ CRGATE_CHALLENGE_TTL_DAYS: 'soon' })[0]).toMatch(/^CRGATE_CHALLENGE_TTL_DAYS \(challenge\.tokenTtlDays\): /);
    expect(problems({ CRGATE_SECRET: 'short' })).toEqual(['CRGATE_SECRET (secret): must be at least 32 characters']);
  });

  it("reads spamd's address as host:port, a host alone on spamd's port 783", () => {
    expect(loadConfig({ CRGATE_SPAMD: '10.0.0.5:7830' }).scorers.spamd).toEqual({ host: '10.0.0.5', port: 7830 });
    expect(loadConfig({ CRGATE_SPAMD: 'spamd.internal' }).scorers.spamd).toEqual({ host: 'spamd.internal', port: 783 });
    expect(loadConfig({ CRGATE_SPAMD: '::1' }).scorers.spamd).toEqual({ host: '::1', port: 783 });
  });

  it('refuses a spamd address that is not host or host:port, naming the variable', () => {
    expect(() => loadConfig({ CRGATE_SPAMD: 'spamd:abc' })).toThrow(/CRGATE_SPAMD \(scorers\.spamd\): expected host or host:port/);
    for (const value of [':25', ':::25x', '[::1', '[nonsense]:783', '[1.2.3.4]']) {
      expect(() => loadConfig({ CRGATE_SPAMD: value }), value).toThrow(/CRGATE_SPAMD \(scorers\.spamd\): expected host or host:port/);
    }
    expect(loadConfig({ CRGATE_SPAMD: '[::1]:7830' }).scorers.spamd).toEqual({ host: '::1', port: 7830 });
  });

  it('reports every bad key at once', () => {
    expect(problems({ CRGATE_WEB_LISTEN: 'x', CRGATE_SMTP_RELAY: 'lmtp://a:1' })).toHaveLength(2);
  });

  it('refuses a challenge address outside the public URL domain', () => {
    const p = problems({ CRGATE_PUBLIC_URL: 'https://cr.example.org', CRGATE_CHALLENGE_FROM: 'crgate@other.example' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^CRGATE_CHALLENGE_FROM \(challenge\.from\): domain "other\.example" must be the public URL's host "cr\.example\.org" or a parent domain/);
  });

  it('accepts a challenge address at a parent domain of the public host', () => {
    expect(loadConfig({ CRGATE_PUBLIC_URL: 'https://cr.example.org', CRGATE_CHALLENGE_FROM: 'cr@example.org' }).challenge.from).toBe('cr@example.org');
  });

  it('refuses a blank, true or a list where a number is wanted, rather than reading it as 0 or 1', () => {
    expect(problems({ CRGATE_CHALLENGE_PER_SENDER_PER_HOUR: ' ' })).toEqual([
      'CRGATE_CHALLENGE_PER_SENDER_PER_HOUR (challenge.perSenderPerHour): must be a number, not " "',
    ]);
    expect(problems({}, { classifier: { spamCutoff: null } })).toEqual(['classifier.spamCutoff (env CRGATE_CLASSIFIER_SPAM_CUTOFF): must be a number, not null']);
    expect(problems({}, { lmtp: { maxSize: true } })).toEqual(['lmtp.maxSize (env CRGATE_LMTP_MAX_SIZE): must be a number, not true']);
    expect(problems({}, { lmtp: { maxClients: [] } })).toEqual(['lmtp.maxClients (env CRGATE_LMTP_MAX_CLIENTS): must be a number, not []']);
    expect(loadConfig({ CRGATE_CLASSIFIER_SPAM_CUTOFF: ' 0.95 ' }).classifier.spamCutoff).toBe(0.95);
    expect(loadConfig({}, { classifier: { spamCutoff: 0.99 } }).classifier.spamCutoff).toBe(0.99);
  });

  it('says a fraction where a whole number is wanted is not whole, not that it is not a number', () => {
    expect(problems({ CRGATE_LMTP_MAX_SIZE: '1.5' })).toEqual(['CRGATE_LMTP_MAX_SIZE (lmtp.maxSize): must be a whole number, not 1.5']);
    expect(problems({}, { worker: { concurrency: 2.5 } })).toEqual(['worker.concurrency (env CRGATE_WORKER_CONCURRENCY): must be a whole number, not 2.5']);
    expect(problems({ CRGATE_WORKER_CONCURRENCY: 'two' })).toEqual(['CRGATE_WORKER_CONCURRENCY (worker.concurrency): must be a number, not "two"']);
    expect(loadConfig({ CRGATE_CLASSIFIER_HAM_CUTOFF: '0.25' }).classifier.hamCutoff).toBe(0.25);
  });

  it('refuses a time in milliseconds longer than a timer can wait', () => {
    expect(problems({ CRGATE_WORKER_OUTBOX_POLL_MS: '3000000000' })[0]).toMatch(/^CRGATE_WORKER_OUTBOX_POLL_MS \(worker\.outboxPollMs\): Too big/);
    expect(problems({ CRGATE_DNS_TIMEOUT_MS: '2147483647' })).toEqual([]);
  });

  it('refuses a public URL with a query, fragment or user name, and an rspamd URL with credentials', () => {
    expect(problems({ CRGATE_PUBLIC_URL: 'https://example.org/p?x=1#f' })).toEqual([
      'CRGATE_PUBLIC_URL (publicUrl): must be a plain base URL: no query, fragment or user name',
    ]);
    expect(problems({ CRGATE_RSPAMD_URL: 'http://user:pw@127.0.0.1:11333' })).toEqual([
      'CRGATE_RSPAMD_URL (scorers.rspamd): no user name or password in the URL: set CRGATE_RSPAMD_PASSWORD',
    ]);
  });

  it('refuses an rspamd address that is not a URL, naming the variable, rather than failing with a bare "Invalid URL"', () => {
    for (const value of ['127.0.0.1:11333', 'rspamd.internal', ' ']) {
      expect(problems({ CRGATE_RSPAMD_URL: value })).toEqual([
        `CRGATE_RSPAMD_URL (scorers.rspamd): expected an http:// or https:// URL (e.g. http://127.0.0.1:11333), got "${value}"`,
      ]);
    }
    expect(problems({}, { scorers: { rspamd: 'ftp://127.0.0.1' } })).toEqual([
      'scorers.rspamd (env CRGATE_RSPAMD_URL): expected an http:// or https:// URL (e.g. http://127.0.0.1:11333), got "ftp://127.0.0.1"',
    ]);
    expect(loadConfig({ CRGATE_RSPAMD_URL: 'http://127.0.0.1:11333' }).scorers.rspamd).toBe('http://127.0.0.1:11333');
  });

  it('takes for DNS servers only what Node\'s resolver takes, and names the variable for a host name or a bad port', () => {
    const servers = loadConfig({ CRGATE_DNS_SERVERS: '127.0.0.1, 10.0.0.53:5353,::1,[2001:db8::1]:53' }).dns.servers;
    expect(servers).toEqual(['127.0.0.1', '10.0.0.53:5353', '::1', '[2001:db8::1]:53']);
    expect(() => new dns.Resolver().setServers(servers)).not.toThrow();
    for (const value of ['dns.example.org', 'localhost:53', '10.0.0.53:99999', '10.0.0.53:0', ':53']) {
      expect(problems({ CRGATE_DNS_SERVERS: value })).toEqual([
        `CRGATE_DNS_SERVERS (dns.servers.0): expected an IP address, IP:port or [IPv6]:port (no host names), got "${value}"`,
      ]);
    }
  });

  it('takes IP addresses for the tap\'s trusted clients, and says so for a host name or a network', () => {
    expect(loadConfig({ CRGATE_TAP_TRUSTED_CLIENTS: '127.0.0.1, ::1,::ffff:10.1.2.3' }).tap.trustedClients).toEqual(['127.0.0.1', '::1', '::ffff:10.1.2.3']);
    expect(problems({ CRGATE_TAP_TRUSTED_CLIENTS: 'localhost,10.0.0.0/8' })).toEqual([
      'CRGATE_TAP_TRUSTED_CLIENTS (tap.trustedClients): expected IP addresses separated by commas (no host names, no networks)',
    ]);
  });

  it('says what a switch or the operations listener takes, not only that the input is invalid', () => {
    expect(problems({ CRGATE_REDIS_CLUSTER: 'True' })).toEqual(['CRGATE_REDIS_CLUSTER (redisCluster): expected true or false (also yes/no, 1/0), in lower case']);
    expect(problems({ CRGATE_OPS_LISTEN: 'of' })).toEqual(['CRGATE_OPS_LISTEN (ops.listen): expected host:port (e.g. 127.0.0.1:9464) or "off"']);
  });

  it('takes the file as a base and lets the environment win', () => {
    const c = loadConfig({ CRGATE_LMTP_LISTEN: '127.0.0.1:3000' }, { lmtp: { listen: '127.0.0.1:2000', maxSize: 1000 }, logLevel: 'debug' });
    expect(c.lmtp.listen.port).toBe(3000);
    expect(c.lmtp.maxSize).toBe(1000);
    expect(c.logLevel).toBe('debug');
  });

  it('names unknown keys in the file', () => {
    expect(problems({}, { lmtp: { lisen: 'x' } })).toEqual(['CRGATE_CONFIG: unknown key(s) "lmtp.lisen"']);
  });

  it('refuses a file that holds a list or a single value, in words that fit YAML as well as JSON', () => {
    for (const file of [['lmtp'], 'lmtp: x', 42]) {
      expect(problems({}, file)).toEqual(['CRGATE_CONFIG: the file must hold a mapping of keys to values (a YAML mapping or a JSON object), not a list or a single value']);
    }
  });

  it('refuses a section the file gives as a single value, even when a variable sets a key inside it', () => {
    const found = problems({ CRGATE_LMTP_LISTEN: '127.0.0.1:3000' }, { lmtp: 'x' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^lmtp: /);
  });

  it('takes the number of PostgreSQL connections per process, 20 unless set, and refuses none', () => {
    expect(loadConfig({}).databasePoolSize).toBe(20);
    expect(loadConfig({ CRGATE_DATABASE_POOL_SIZE: '5' }).databasePoolSize).toBe(5);
    expect(problems({ CRGATE_DATABASE_POOL_SIZE: '0' })[0]).toMatch(/^CRGATE_DATABASE_POOL_SIZE \(databasePoolSize\): /);
  });

  it('reads booleans as words, not as JavaScript truthiness', () => {
    expect(loadConfig({ CRGATE_CLASSIFIER_ENABLED: 'no' }).classifier.enabled).toBe(false);
    expect(loadConfig({ CRGATE_CLASSIFIER_ENABLED: 'yes' }).classifier.enabled).toBe(true);
  });

  it('trusts a given number of proxies, or their addresses, never every X-Forwarded-For entry', () => {
    const trust = (v: string) => loadConfig({ CRGATE_WEB_TRUST_PROXY: v }).web.trustProxy;
    expect(trust('false')).toBe(false);
    expect(trust('true')).toBe(1);
    expect(trust('yes')).toBe(1);
    expect(trust('2')).toBe(2);
    expect(trust('loopback, 10.0.0.0/8,::1')).toEqual(['loopback', '10.0.0.0/8', '::1']);
    expect(problems({ CRGATE_WEB_TRUST_PROXY: 'proxy.example.org' })[0]).toMatch(/^CRGATE_WEB_TRUST_PROXY \(web\.trustProxy\): expected false, true \(one proxy\)/);
  });

  it('reports a value out of its range once, under its own key, not again as a clash with a key left at its default', () => {
    expect(problems({ CRGATE_CLASSIFIER_SPAM_CUTOFF: '-1' })).toEqual(['CRGATE_CLASSIFIER_SPAM_CUTOFF (classifier.spamCutoff): Too small: expected number to be >=0']);
    expect(problems({ CRGATE_CLASSIFIER_HAM_CUTOFF: '1.5' })).toEqual(['CRGATE_CLASSIFIER_HAM_CUTOFF (classifier.hamCutoff): Too big: expected number to be <=1']);
    expect(problems({ CRGATE_CHALLENGE_TTL_DAYS: '99999' })).toEqual(['CRGATE_CHALLENGE_TTL_DAYS (challenge.tokenTtlDays): Too big: expected number to be <=36500']);
    // Once each key is valid, the clash between them is still reported.
    expect(problems({ CRGATE_CLASSIFIER_SPAM_CUTOFF: '0.1' })).toEqual([
      'classifier.hamCutoff (env CRGATE_CLASSIFIER_HAM_CUTOFF): must not be above classifier.spamCutoff (0.1)',
    ]);
  });

  it('refuses held mail kept for less time than its challenge link is valid', () => {
    expect(problems({ CRGATE_RETENTION_HELD_DAYS: '10', CRGATE_CHALLENGE_TTL_DAYS: '14' })).toEqual([
      'CRGATE_RETENTION_HELD_DAYS (retention.heldDays): must be at least challenge.tokenTtlDays (14): held mail would be gone before its challenge link expires',
    ]);
    expect(problems({ CRGATE_RETENTION_HELD_DAYS: '14', CRGATE_CHALLENGE_TTL_DAYS: '14' })).toEqual([]);
  });

  it('refuses a history retention shorter than the mail it must outlive', () => {
    expect(problems({ CRGATE_RETENTION_HISTORY_DAYS: '20' })).toEqual([
      expect.stringContaining('CRGATE_RETENTION_HISTORY_DAYS'),
    ]);
  });

  it('accepts 0 as a history kept forever', () => {
    expect(loadConfig({ CRGATE_RETENTION_HISTORY_DAYS: '0' }).retention.historyDays).toBe(0);
  });
});
