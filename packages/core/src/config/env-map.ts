/**
 * Environment variables and the configuration keys they set. One table, used to load the configuration
 * and to name the variable in error messages, so an operator sees the name they actually typed.
 */
export interface EnvVar {
  name: string;
  /** Dotted path in the configuration object (and in the CRGATE_CONFIG JSON file). */
  path: string;
  description: string;
}

export const ENV_VARS: readonly EnvVar[] = [
  { name: 'DATABASE_URL', path: 'databaseUrl', description: 'PostgreSQL; created if missing, migrations applied' },
  { name: 'CRGATE_DATABASE_POOL_SIZE', path: 'databasePoolSize', description: 'PostgreSQL connections per process (a worker keeps two more)' },
  { name: 'REDIS_URL', path: 'redisUrl', description: 'Redis for BullMQ queues and counters' },
  { name: 'CRGATE_REDIS_PREFIX', path: 'redisPrefix', description: 'prefix of every Redis key crgate writes; {braces} make it a Cluster hash tag' },
  { name: 'CRGATE_REDIS_SENTINELS', path: 'redisSentinels', description: 'Redis Sentinels host:port,... that name the master (empty: REDIS_URL itself)' },
  { name: 'CRGATE_REDIS_SENTINEL_NAME', path: 'redisSentinelName', description: 'the master\'s name as the Sentinels know it' },
  { name: 'CRGATE_REDIS_SENTINEL_PASSWORD', path: 'redisSentinelPassword', description: 'password of the Sentinels themselves, if any' },
  { name: 'CRGATE_REDIS_CLUSTER', path: 'redisCluster', description: 'REDIS_URL is one node of a Redis Cluster (true/false)' },
  { name: 'CRGATE_LMTP_LISTEN', path: 'lmtp.listen', description: 'host:port of the LMTP ingest' },
  { name: 'CRGATE_LMTP_MAX_SIZE', path: 'lmtp.maxSize', description: 'largest message accepted, in bytes' },
  { name: 'CRGATE_LMTP_HOSTNAME', path: 'lmtp.hostname', description: 'name in the LMTP greeting' },
  { name: 'CRGATE_LMTP_MAX_CLIENTS', path: 'lmtp.maxClients', description: 'most simultaneous LMTP connections' },
  { name: 'CRGATE_LMTP_XFORWARD_CLIENTS', path: 'lmtp.xforwardClients', description: 'peer addresses whose XFORWARD (client address, HELO) is believed' },
  { name: 'CRGATE_WEB_LISTEN', path: 'web.listen', description: 'host:port of the web site' },
  { name: 'CRGATE_WEB_VIEWS', path: 'web.viewsDir', description: 'folder of .hbs files replacing built-in pages' },
  { name: 'CRGATE_WEB_TRUST_PROXY', path: 'web.trustProxy', description: 'trust X-Forwarded-* headers from a reverse proxy' },
  { name: 'CRGATE_WEB_SESSION_HOURS', path: 'web.sessionHours', description: 'hours a recipient stays signed in to the site' },
  { name: 'CRGATE_WEB_SIGNIN_PER_ADDRESS', path: 'web.signInPerAddressPerHour', description: 'sign-in attempts per address per hour' },
  { name: 'CRGATE_WEB_SIGNIN_PER_CLIENT', path: 'web.signInPerClientPerHour', description: 'sign-in attempts per client IP address per hour' },
  { name: 'CRGATE_WEB_BAD_TOKENS_PER_CLIENT', path: 'web.badTokensPerClientPerHour', description: 'unknown confirmation or sign-in link tokens per client IP address per hour' },
  { name: 'CRGATE_WEB_SIGNIN_MAIL', path: 'web.signInMail', description: 'how sign-in links are mailed: deliver (to the mailbox, via CRGATE_DELIVER_TO) or relay (via CRGATE_SMTP_RELAY)' },
  { name: 'CRGATE_OPS_LISTEN', path: 'ops.listen', description: 'host:port of /metrics, /healthz and /readyz for this process, or off' },
  { name: 'CRGATE_PUBLIC_URL', path: 'publicUrl', description: 'base URL of the site, used in challenge links' },
  { name: 'CRGATE_DELIVER_TO', path: 'deliverTo', description: 'lmtp://host:port, smtp://host:port or maildir:DIR' },
  { name: 'CRGATE_SMTP_RELAY', path: 'smtpRelay', description: 'smtp://host:port where challenges are sent' },
  { name: 'CRGATE_CHALLENGE_FROM', path: 'challenge.from', description: 'From: of challenges' },
  { name: 'CRGATE_CHALLENGE_TEMPLATE', path: 'challenge.templateFile', description: 'handlebars file replacing the challenge text' },
  { name: 'CRGATE_CHALLENGE_TTL_DAYS', path: 'challenge.tokenTtlDays', description: 'days a challenge link stays valid' },
  { name: 'CRGATE_CHALLENGE_PER_PAIR_DAYS', path: 'challenge.perPairDays', description: 'at most one challenge per sender and recipient in this many days' },
  { name: 'CRGATE_CHALLENGE_PER_SENDER_PER_HOUR', path: 'challenge.perSenderPerHour', description: 'challenges per sender address per hour' },
  { name: 'CRGATE_CHALLENGE_GLOBAL_PER_HOUR', path: 'challenge.globalPerHour', description: 'challenges per hour in all' },
  { name: 'CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH', path: 'policy.challengeRequiresAuth', description: 'challenge only senders shown real by SPF or aligned DKIM (true/false)' },
  { name: 'CRGATE_CLASSIFIER_ENABLED', path: 'classifier.enabled', description: 'use the statistical content filter (true/false)' },
  { name: 'CRGATE_CLASSIFIER_HAM_CUTOFF', path: 'classifier.hamCutoff', description: 'content scores below this are ham' },
  { name: 'CRGATE_CLASSIFIER_SPAM_CUTOFF', path: 'classifier.spamCutoff', description: 'content scores at or above this are spam' },
  { name: 'CRGATE_SPAMD', path: 'scorers.spamd', description: 'host:port of SpamAssassin spamd, asked for a second opinion on content' },
  { name: 'CRGATE_SPAMD_SPAM_SCORE', path: 'scorers.spamdSpamScore', description: 'SpamAssassin score from which its answer counts as a spam vote' },
  { name: 'CRGATE_RSPAMD_URL', path: 'scorers.rspamd', description: 'URL of rspamd (http://host:11333), asked for a second opinion on content' },
  { name: 'CRGATE_RSPAMD_PASSWORD', path: 'scorers.rspamdPassword', description: 'password rspamd asks of its clients, if any' },
  { name: 'CRGATE_SCORER_TIMEOUT_MS', path: 'scorers.timeoutMs', description: 'milliseconds each external scorer may take per message' },
  { name: 'CRGATE_TAP_ADDRESS', path: 'tap.address', description: 'address the MTA copies outgoing mail to (whitelists its recipients)' },
  { name: 'CRGATE_TAP_TRUSTED_CLIENTS', path: 'tap.trustedClients', description: 'peer addresses allowed to deliver to the tap address' },
  { name: 'CRGATE_DNS_SERVERS', path: 'dns.servers', description: 'DNS servers, IP[:port],... ([IPv6]:port; empty: the system resolver)' },
  { name: 'CRGATE_DNS_TIMEOUT_MS', path: 'dns.timeoutMs', description: 'time allowed for one DNS query' },
  { name: 'CRGATE_DNS_CACHE_SECONDS', path: 'dns.cacheSeconds', description: 'how long DNS answers are cached' },
  { name: 'CRGATE_WORKER_RETRY_DELAY_MS', path: 'worker.retryDelayMs', description: 'first retry delay of a failed job (doubles each attempt)' },
  { name: 'CRGATE_WORKER_OUTBOX_POLL_MS', path: 'worker.outboxPollMs', description: 'outbox poll interval besides NOTIFY' },
  { name: 'CRGATE_WORKER_CONCURRENCY', path: 'worker.concurrency', description: 'jobs run at once per queue' },
  { name: 'CRGATE_WORKER_STALLED_MS', path: 'worker.stalledMs', description: 'how long a dead worker\'s job stays claimed before another worker takes it' },
  { name: 'CRGATE_RETENTION_HELD_DAYS', path: 'retention.heldDays', description: 'days held mail is kept' },
  { name: 'CRGATE_RETENTION_DISCARDED_DAYS', path: 'retention.discardedDays', description: 'days discarded mail is kept' },
  { name: 'CRGATE_RETENTION_HISTORY_DAYS', path: 'retention.historyDays', description: 'days the record of each message is kept (0: forever); expiry drops whole months' },
  { name: 'CRGATE_SECRET', path: 'secret', description: 'key for tokens; generated and stored if unset' },
  { name: 'CRGATE_LOG_LEVEL', path: 'logLevel', description: 'fatal, error, warn, info, debug, trace or silent' },
];
