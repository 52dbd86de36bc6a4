/**
 * crgate's one configuration schema. Every option is here, with its default and meaning; environment
 * variables and the optional JSON file (CRGATE_CONFIG) are mapped onto it in env-map.ts, and load.ts
 * validates the merged result once, before any socket opens.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isAddress, domainOf, isSameOrSubdomain } from '../address.js';

/** `host:port` or `[v6]:port`, port 0-65535 (0 = any free port, used by tests). */
export const listenSchema = z.string().transform((value, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected host:port (e.g. 127.0.0.1:2424), got "${value}"` });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2]) as string, port };
});
export type Listen = z.output<typeof listenSchema>;

/**
 * spamd's address as written: a bare IPv6 address, `[IPv6]` with or without a port, or a host name or
 * IPv4 address with or without one. Colons alone (":25") passed a character class meant for IPv6 and
 * became the host ":25", found out only when the first message was scored.
 */
function isSpamdAddress(value: string): boolean {
  if (isIP(value) === 6) return true;
  const m = /^(?:\[([^\]]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(value);
  return m !== null && (m[1] === undefined || isIP(m[1]) === 6);
}

/** A checked spamd address for listenSchema: a host alone gets spamd's own port 783, a bare IPv6 address brackets. */
function withSpamdPort(value: string): string {
  if (/^\[.*\]:\d+$/.test(value) || /^[^:]+:\d+$/.test(value)) return value;
  return value.includes(':') && !value.startsWith('[') ? `[${value}]:783` : `${value}:783`;
}

/** Where accepted and released mail goes. */
export type DeliverTarget =
  | { kind: 'lmtp'; host: string; port: number }
  | { kind: 'smtp'; host: string; port: number }
  | { kind: 'maildir'; dir: string };

export const deliverToSchema = z.string().transform((value, ctx): DeliverTarget => {
  const v = value.trim();
  if (v.startsWith('maildir:')) {
    const dir = v.slice('maildir:'.length);
    if (!dir) {
      ctx.addIssue({ code: 'custom', message: 'maildir: needs a directory, e.g. maildir:/var/mail/crgate' });
      return z.NEVER;
    }
    return { kind: 'maildir', dir };
  }
  const m = /^(lmtp|smtp):\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d{1,5})\/?$/.exec(v);
  if (!m || Number(m[4]) > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `expected lmtp://host:port, smtp://host:port or maildir:DIR, got "${value}"`,
    });
    return z.NEVER;
  }
  return { kind: m[1] as 'lmtp' | 'smtp', host: (m[2] ?? m[3]) as string, port: Number(m[4]) };
});

export const smtpRelaySchema = z.string().transform((value, ctx) => {
  const m = /^smtp:\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d{1,5})\/?$/.exec(value.trim());
  if (!m || Number(m[3]) > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected smtp://host:port, got "${value}"` });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
});

const urlSchema = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not a URL: "${value}"` });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    return z.NEVER;
  }
  if (url.search || url.hash || url.username || url.password) {
    // Links are built by appending a path: `?x=1#f` would end up before it, credentials in every link.
    ctx.addIssue({ code: 'custom', message: 'must be a plain base URL: no query, fragment or user name' });
    return z.NEVER;
  }
  // Challenge links are built as `${publicUrl}/c/<token>`: keep no trailing slash.
  return url.toString().replace(/\/+$/, '');
});

/**
 * A URL with one of the given schemes, checked for what crgate reads from it. `new URL()` alone takes
 * `localhost:5432/crgate` (scheme "localhost:") or `mysql://...`; pg and ioredis then fail at start with
 * messages that name neither the variable nor the mistake ("no PostgreSQL user name specified", a
 * database "432/crgate", Redis database 6379).
 */
function serviceUrl(schemes: string[], example: string, check: (url: URL) => string | undefined) {
  return z.string().transform((value, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(value.trim());
    } catch {
      // reported below
    }
    const problem = !url || !schemes.includes(url.protocol) ? `expected ${example}, got "${value}"` : check(url);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return value.trim();
  });
}
const databaseUrlSchema = serviceUrl(['postgres:', 'postgresql:'], 'postgres://user@host:port/database', (url) =>
  url.pathname.replace(/^\//, '') ? undefined : 'names no database: expected postgres://user@host:port/database',
);
const redisUrlSchema = serviceUrl(['redis:', 'rediss:'], 'redis://host:port or rediss://host:port, with an optional /database number', (url) =>
  /^\/?(\d+)?$/.test(url.pathname) ? undefined : `the path must be a database number (redis://host:port/0), not "${url.pathname}"`,
);

/**
 * Numbers come from YAML or from environment variables' text. Number() would read '', ' ', `true` and
 * `[]` as 0 or 1 (an empty `spamCutoff:` in a file would discard every message), so only numerals are
 * converted; anything else is reported as not a number.
 */
const NUMERAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
const numeric = <T extends z.ZodType>(inner: T) => z.preprocess((v) => (typeof v === 'string' && NUMERAL.test(v.trim()) ? Number(v.trim()) : v), inner);
const number = () =>
  z.number({
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      const shown = JSON.stringify(issue.input) ?? String(issue.input);
      // .int() reports a fraction as invalid_type too: 1.5 is a number, what is wrong is the fraction.
      return issue.expected === 'int' && typeof issue.input === 'number' ? `must be a whole number, not ${shown}` : `must be a number, not ${shown}`;
    },
  });
/** Node's timers take at most 2^31 − 1 ms (about 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Periods in days stay within what a date can hold once added to now. */
const MAX_DAYS = 36_500;
const positiveInt = (max = MAX_TIMER_MS) => numeric(number().int().positive().max(max));
const milliseconds = (min = 1) => numeric(number().int().min(min).max(MAX_TIMER_MS));
const days = () => positiveInt(MAX_DAYS);
/** Environment variables are strings: accept true/false/1/0/yes/no rather than JavaScript truthiness. */
const booleanish = z.union(
  [z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes')],
  { error: 'expected true or false (also yes/no, 1/0), in lower case' },
);
/**
 * Express's `trust proxy`, limited to what is safe: the number of proxies in front (X-Forwarded-For
 * is read from the right, past that many hops) or the proxies' addresses and networks. `true` means one
 * proxy: Express's own `true` takes the left-most address, which the client writes itself, and every
 * per-client limit could then be dodged with a new made-up address per request.
 */
const TRUST_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal']);
const trustProxySchema = z
  .union([z.boolean(), z.number(), z.string()])
  .transform((v, ctx): false | number | string[] => {
    const text = String(v).trim().toLowerCase();
    if (v === false || ['false', 'no', '0', ''].includes(text)) return false;
    if (v === true || ['true', 'yes'].includes(text)) return 1;
    if (/^\d+$/.test(text) && Number(text) <= 10) return Number(text);
    const list = text.split(',').map((x) => x.trim()).filter(Boolean);
    const bad = list.filter((x) => !TRUST_PRESETS.has(x) && isIP(x.split('/')[0]!) === 0);
    if (bad.length === 0 && list.length > 0) return list;
    ctx.addIssue({
      code: 'custom',
      message: `expected false, true (one proxy), the number of proxies (up to 10), or their addresses, networks (10.0.0.0/8) or loopback, linklocal, uniquelocal; not ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  });

/** A list of peer IP addresses, as a list or comma-separated; compared as they are, so no names or networks. */
const ipAddresses = () =>
  z
    .union([z.array(z.string()), z.string().transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))])
    .refine((list) => list.every((a) => isIP(a.replace(/^::ffff:/i, '')) !== 0), {
      message: 'expected IP addresses separated by commas (no host names, no networks)',
    });
/**
 * One DNS server as Node's resolver takes it (Resolver#setServers): an IP address, `IP:port` or
 * `[IPv6]:port`. A host name or a port out of range would pass a looser check and then make the
 * ingest fail at start with "Invalid IP address", after the database was opened.
 */
const dnsServerSchema = z.string().transform((value, ctx) => {
  const v = value.trim();
  // A bare IPv6 address has colons of its own: only [IPv6]:port carries a port.
  const m = isIP(v) === 6 ? null : /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(v);
  const ok =
    isIP(v) === 6 ||
    (m !== null &&
      (m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2]!) === 4) &&
      (m[3] === undefined || (Number(m[3]) >= 1 && Number(m[3]) <= 65535)));
  if (!ok) {
    ctx.addIssue({ code: 'custom', message: `expected an IP address, IP:port or [IPv6]:port (no host names), got "${value}"` });
    return z.NEVER;
  }
  return v;
});
const nonNegativeInt = (max = MAX_TIMER_MS) => numeric(number().int().min(0).max(max));

export const configSchema = z
  .object({
    /** PostgreSQL connection string. The database is created if missing. */
    databaseUrl: databaseUrlSchema.default('postgres://postgres@127.0.0.1:5432/crgate'),
    /**
     * PostgreSQL connections each process may open for its work (a worker keeps two more: its outbox
     * LISTEN and its send locks). With several processes, their sum must fit PostgreSQL's max_connections.
     */
    databasePoolSize: positiveInt(1000).default(20),
    /** Redis for BullMQ queues and rate counters. */
    redisUrl: redisUrlSchema.default('redis://127.0.0.1:6379'),
    /**
     * Prefix of every Redis key crgate writes (queues and counters), so several installs can share one
     * Redis. Braces make it a Redis Cluster hash tag (`{crgate}`): every key then falls in one hash slot,
     * as BullMQ and the rate-limit script, which touch several keys at once, need on a Cluster.
     */
    redisPrefix: z
      .string()
      .regex(
        /^(?:[A-Za-z0-9_.:-]*\{[A-Za-z0-9_.:-]+\}[A-Za-z0-9_.:-]*|[A-Za-z0-9_.:-]+)$/,
        'letters, digits and _.:- only, optionally one {hash tag} (e.g. {crgate})',
      )
      .default('crgate'),
    /**
     * Redis Sentinels (host:port, ...) that name the current master; empty: connect to redisUrl itself.
     * With Sentinels, redisUrl gives only the user, password, database number and TLS (rediss:) of the master.
     */
    redisSentinels: z
      .union([z.array(z.string()), z.string().transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))])
      .pipe(z.array(listenSchema))
      .default([]),
    /** The master's name as the Sentinels know it (`sentinel monitor <name> ...`). */
    redisSentinelName: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits and _.- only').default('mymaster'),
    /** Password of the Sentinels themselves (`requirepass` in sentinel.conf), if they have one. */
    redisSentinelPassword: z.string().min(1).optional(),
    /** redisUrl is one node of a Redis Cluster: the others are discovered from it. Needs a {hash tag} in redisPrefix. */
    redisCluster: booleanish.default(false),
    lmtp: z
      .strictObject({
        /** host:port of the LMTP ingest. */
        listen: listenSchema.default({ host: '127.0.0.1', port: 2424 }),
        /** Largest message accepted, in bytes (announced with SIZE, enforced on DATA). */
        maxSize: positiveInt().default(25 * 1024 * 1024),
        /** Name in the LMTP greeting; must differ from the MTA's own hostname or Postfix reports a loop. */
        hostname: z
          .string()
          .trim()
          // Sent as the LHLO/EHLO argument downstream: a space or an empty name there gets "501 syntax"
          // from the server, and every delivery and release would fail with a temporary error for ever.
          .regex(/^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*$/, {
            error: (issue) => `expected a host name (letters, digits, - and .), got ${JSON.stringify(issue.input)}`,
          })
          .default('crgate.localdomain'),
        /** Most simultaneous LMTP connections. */
        maxClients: positiveInt().default(100),
        /**
         * Peers (the MTA's own addresses) whose XFORWARD is believed: the client address and HELO it
         * forwards decide SPF. Anyone else who connects is checked as the client it is.
         */
        xforwardClients: ipAddresses().default(['127.0.0.1', '::1']),
      })
      .prefault({}),
    web: z
      .strictObject({
        /** host:port of the web site. */
        listen: listenSchema.default({ host: '127.0.0.1', port: 8080 }),
        /** A folder of .hbs files that replace the built-in pages of the same name. */
        viewsDir: z.string().min(1).optional(),
        /** Trust X-Forwarded-* from a reverse proxy (Express "trust proxy"). */
        trustProxy: trustProxySchema.default(false),
        /** Hours a recipient stays signed in to the site (sessions end this long after sign-in). */
        sessionHours: positiveInt(24 * 90).default(12),
        /** Sign-in attempts allowed per address per hour: links asked for, and passwords tried, each counted apart. */
        signInPerAddressPerHour: positiveInt().default(10),
        /** Sign-in attempts allowed per client IP address per hour. */
        signInPerClientPerHour: positiveInt().default(30),
        /**
         * Unknown or malformed link tokens (/c/..., /signin/...) allowed per client IP address per hour;
         * past that the client gets 429 on those links until its oldest failure is an hour old.
         */
        badTokensPerClientPerHour: positiveInt().default(20),
        /**
         * How sign-in links are mailed: `deliver` writes them straight to the user's mailbox through
         * deliverTo (the way released mail goes, so crgate never filters its own notice); `relay` sends
         * them through smtpRelay, for an MTA that delivers crgate's own mail without passing it back to crgate.
         */
        signInMail: z.enum(['deliver', 'relay']).default('deliver'),
      })
      .prefault({}),
    ops: z
      .strictObject({
        /** host:port of the process's /metrics, /healthz and /readyz endpoint, or "off". One per process. */
        listen: z
          .union([z.literal('off'), listenSchema], { error: 'expected host:port (e.g. 127.0.0.1:9464) or "off"' })
          .default({ host: '127.0.0.1', port: 9464 }),
      })
      .prefault({}),
    /** Base URL of the site, used in challenge links. */
    publicUrl: urlSchema.default('http://localhost:8080'),
    /** Where accepted and released mail goes: lmtp://host:port, smtp://host:port or maildir:DIR. */
    deliverTo: deliverToSchema.default({ kind: 'maildir', dir: './data/mail' }),
    /** Where challenges and notices are sent: smtp://host:port. */
    smtpRelay: smtpRelaySchema.default({ host: '127.0.0.1', port: 25 }),
    challenge: z
      .strictObject({
        /** From: of challenges; defaults to crgate@<public URL host>. Its domain must be the public URL's host or a parent of it. */
        from: z.string().optional(),
        /** A handlebars file replacing the challenge text ({{recipient}}, {{link}}, {{subject}}); checked at start. */
        templateFile: z.string().min(1).optional(),
        /** Days a challenge link stays valid. */
        tokenTtlDays: days().default(14),
        /** At most one challenge per (sender, recipient) in this many days. */
        perPairDays: days().default(7),
        /** At most this many challenges to one sender address per hour, over all recipients. */
        perSenderPerHour: nonNegativeInt().default(5),
        /** At most this many challenges per hour in all. */
        globalPerHour: nonNegativeInt().default(1000),
      })
      .prefault({}),
    policy: z
      .strictObject({
        /** Send a challenge only when SPF or an aligned DKIM signature shows the envelope sender is real. */
        challengeRequiresAuth: booleanish.default(true),
      })
      .prefault({}),
    classifier: z
      .strictObject({
        /** Use the statistical filter (it stays silent until it has been trained). */
        enabled: booleanish.default(true),
        /** Scores below this are ham (delivered). */
        hamCutoff: numeric(number().min(0).max(1)).default(0.2),
        /** Scores at or above this are spam (discarded). */
        spamCutoff: numeric(number().min(0).max(1)).default(0.9),
      })
      .prefault({}),
    scorers: z
      .strictObject({
        /** SpamAssassin's spamd as host:port, or a host alone for spamd's own port 783; unset: not asked. */
        spamd: z
          .string()
          .refine(isSpamdAddress, 'expected host or host:port')
          .transform(withSpamdPort)
          .pipe(listenSchema)
          .optional(),
        /**
         * SpamAssassin score from which its answer is a spam vote. Its own required_score (5) tags
         * spam; crgate acts only on a surer call, as rspamd's `reject` (15) is surer than its `add header` (6).
         */
        spamdSpamScore: numeric(number().finite()).default(7.5),
        /** rspamd's normal worker as a URL, e.g. http://127.0.0.1:11333; unset: not asked. */
        rspamd: z
          .string()
          .transform((value, ctx) => {
            // Parsed once, here: a check that runs new URL() after a failed .url() would throw
            // "Invalid URL" out of the whole configuration, naming no key.
            let url: URL | undefined;
            try {
              url = new URL(value.trim());
            } catch {
              // reported below
            }
            if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
              ctx.addIssue({ code: 'custom', message: `expected an http:// or https:// URL (e.g. http://127.0.0.1:11333), got "${value}"` });
              return z.NEVER;
            }
            if (url.username || url.password) {
              // fetch() refuses a URL with credentials; rspamd's password has its own key.
              ctx.addIssue({ code: 'custom', message: 'no user name or password in the URL: set CRGATE_RSPAMD_PASSWORD' });
              return z.NEVER;
            }
            return value.trim();
          })
          .optional(),
        /** rspamd's controller password, when its worker asks for one. */
        rspamdPassword: z.string().min(1).optional(),
        /** Time allowed to each scorer per message, in milliseconds; a late answer is ignored. */
        timeoutMs: milliseconds().default(3000),
      })
      .prefault({}),
    tap: z
      .strictObject({
        /**
         * Address the MTA copies users' outgoing mail to (Postfix sender_bcc_maps on the submission
         * service); its recipients are whitelisted for the sender. Unset: no tap.
         */
        address: z.string().refine(isAddress, 'not a mail address').optional(),
        /** Peers (the MTA's own addresses) allowed to hand mail to the tap address. */
        trustedClients: ipAddresses().default(['127.0.0.1', '::1']),
      })
      .prefault({}),
    dns: z
      .strictObject({
        /** DNS servers for SPF, DKIM, DMARC and MX look-ups (IP address, IP:port or [IPv6]:port); empty = the system's. */
        servers: z
          .union([z.array(z.string()), z.string().transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))])
          .pipe(z.array(dnsServerSchema))
          .default([]),
        /** Time allowed for one DNS query, in milliseconds. */
        timeoutMs: milliseconds().default(2000),
        /** How long answers are cached, in seconds (0 = no cache). */
        cacheSeconds: nonNegativeInt(Math.floor(MAX_TIMER_MS / 1000)).default(300),
      })
      .prefault({}),
    worker: z
      .strictObject({
        /** First retry delay of a failed job, in milliseconds; it doubles with each attempt. */
        retryDelayMs: milliseconds().default(15_000),
        /** How often the outbox is polled besides the NOTIFY wake-up, in milliseconds. */
        outboxPollMs: milliseconds().default(1000),
        /** Jobs run at once per queue. */
        concurrency: positiveInt().default(8),
        /**
         * How long a job of a worker that died (kill -9, power loss) stays claimed before a running worker
         * takes it over, in milliseconds: BullMQ's lock duration and stalled-job check interval. A worker
         * whose event loop blocks longer than this loses its lock and the job may run twice.
         */
        stalledMs: milliseconds(1000).default(30_000),
      })
      .prefault({}),
    retention: z
      .strictObject({
        /** Days held (challenged or quarantined) mail is kept before it is deleted. */
        heldDays: days().default(30),
        /** Days discarded mail is kept (for the recipient to look at) before it is deleted. */
        discardedDays: days().default(7),
        /**
         * Days the record of each message (decision, reasons, headers; the body is gone by then) is kept
         * for history and statistics. The hourly expiry drops whole months once they are older; a month
         * that still holds a copy waiting for a decision is kept. 0: keep the records forever.
         */
        historyDays: nonNegativeInt(MAX_DAYS).default(180),
      })
      .prefault({}),
    /** Key for tokens (at least 32 characters). Unset: one is generated once and stored in the database. */
    secret: z.string().min(32, 'must be at least 32 characters').optional(),
    /** pino log level. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  // The checks between keys run only once every key is valid on its own. Zod would otherwise run them
  // after a value that is out of range (too_big is not an aborting issue): spamCutoff -1 also blamed
  // hamCutoff, which the operator never set, and hamCutoff 1.5 was refused twice.
  .superRefine((cfg, ctx) => {
    if (cfg.classifier.hamCutoff > cfg.classifier.spamCutoff) {
      ctx.addIssue({ code: 'custom', path: ['classifier', 'hamCutoff'], message: `must not be above classifier.spamCutoff (${cfg.classifier.spamCutoff})` });
    }
    if (cfg.redisCluster && cfg.redisSentinels.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['redisCluster'], message: 'Redis Cluster and Sentinel exclude each other: set one of them' });
    }
    if (cfg.redisCluster && !/\{[^}]+\}/.test(cfg.redisPrefix)) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisPrefix'],
        message: `must contain a {hash tag} on a Redis Cluster, e.g. "{${cfg.redisPrefix}}", so that every key crgate writes is in one hash slot`,
      });
    }
    if (cfg.retention.heldDays < cfg.challenge.tokenTtlDays) {
      // A sender who confirms on the last valid day must find the mail still there to release.
      ctx.addIssue({
        code: 'custom',
        path: ['retention', 'heldDays'],
        message: `must be at least challenge.tokenTtlDays (${cfg.challenge.tokenTtlDays}): held mail would be gone before its challenge link expires`,
      });
    }
    const longest = Math.max(cfg.retention.heldDays, cfg.retention.discardedDays);
    if (cfg.retention.historyDays > 0 && cfg.retention.historyDays < longest) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention', 'historyDays'],
        message: `must be 0 (keep forever) or at least retention.heldDays and retention.discardedDays (${longest})`,
      });
    }
    const host = new URL(cfg.publicUrl).hostname.toLowerCase();
    const from = cfg.challenge.from ?? `crgate@${host}`;
    if (!isAddress(from)) {
      ctx.addIssue({ code: 'custom', path: ['challenge', 'from'], message: `not a mail address: "${from}"` });
      return;
    }
    if (!isSameOrSubdomain(host, domainOf(from))) {
      ctx.addIssue({
        code: 'custom',
        path: ['challenge', 'from'],
        message: `domain "${domainOf(from)}" must be the public URL's host "${host}" or a parent domain of it, because the one link in a challenge must point at the sending domain`,
      });
    }
  }, { when: (payload) => payload.issues.length === 0 })
  .transform((cfg) => ({
    ...cfg,
    challenge: { ...cfg.challenge, from: cfg.challenge.from ?? `crgate@${new URL(cfg.publicUrl).hostname.toLowerCase()}` },
  }));

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
