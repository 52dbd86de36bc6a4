/**
 * Everything between "a message arrived for these users" and "this is the decision for each": parse
 * once, authenticate, check the sender's domain, read the users' lists and the sender's wishes, and
 * run the pure policy in core. The LMTP ingest and `crgate replay` both use it, so a replay decides
 * exactly as the ingest would; only what happens afterwards (store, deliver, challenge) differs.
 */
import { decide, domainOf, silentLogger, type Config, type Decision, type Logger, type MessageFacts, type PolicySettings, type RecipientFacts } from '@crgate/core';
import { listLocalDomains, lookupDecisionFacts, PgTokenStore, type Db, type DecisionLookups, type User } from '@crgate/store';
import { ContentChecker, GLOBAL_SCOPE, type ContentCheck } from './content-check.js';
import { parseMessage } from './parse-message.js';
import { checkAuthentication, type AuthOutcome } from './authenticate.js';
import { createResolver, isDomainRoutable, type ResolveFn } from './dns-resolver.js';
import { ExternalScorers } from './external-scorers.js';
import { submittedWithAuthentication } from './outgoing-tap.js';
import type { Readable } from 'node:stream';

const LOCAL_DOMAINS_TTL_MS = 30_000;

export interface Envelope {
  /** MAIL FROM exactly as given ('' for <>). */
  mailFrom: string;
  clientAddress?: string;
  clientHelo?: string;
  /**
   * The peer that handed the message over is our MTA (one of `tap.trustedClients`), so the newest
   * Received header is the MTA's own and may say the sender authenticated (MessageFacts.localSubmission).
   */
  fromTrustedMta?: boolean;
}

export interface PipelineResult {
  facts: MessageFacts;
  auth?: AuthOutcome;
  decisions: Map<number, Decision>;
  /** The classifier's tokens and verdicts, when it ran (the ingest learns from them afterwards). */
  content?: ContentCheck;
  /** Users who already have a copy of these exact bytes (asked for with `sha256`): a retry. */
  recentCopies: DecisionLookups['recentCopies'];
}

export interface DecisionPipeline {
  /**
   * `sha256`, when given, also finds the users who already have a copy of these bytes (in the same
   * round trip as the other lookups); their decisions are made but are the caller's to ignore.
   * `rest`, when given, reads the bytes of the message after `raw`: `raw` is then only the head of a
   * spooled message, which is all that parsing and the classifier read; DKIM reads the rest too.
   */
  decideFor(raw: Buffer, envelope: Envelope, users: User[], log: Logger, options?: DecideOptions): Promise<PipelineResult>;
  content: ContentChecker;
}

export interface DecideOptions {
  sha256?: string;
  rest?: () => Readable;
}

export interface PipelineOptions {
  db: Db;
  /** DNS for authentication and the sender-domain check; built from config.dns when not given. */
  resolver?: ResolveFn;
  /** Skip every DNS-based check (authentication and the sender-domain check): their facts stay unknown. */
  offline?: boolean;
  /** The content classifier; by default one on the PostgreSQL token store. */
  content?: ContentChecker;
  /** SpamAssassin and rspamd, when configured; by default from config.scorers. */
  scorers?: ExternalScorers;
  logger?: Logger;
}

export function createDecisionPipeline(config: Config, options: PipelineOptions): DecisionPipeline {
  const resolver = options.resolver ?? createResolver(config.dns);
  const content = options.content ?? new ContentChecker(config, new PgTokenStore(options.db, GLOBAL_SCOPE), options.logger ?? silentLogger);
  const scorers = options.scorers ?? new ExternalScorers(config.scorers, options.logger ?? silentLogger);
  let localDomains: { until: number; value: Promise<Set<string>> } | undefined;

  /** Our own domains change only with `crgate users`: read them at most every 30 seconds. */
  function ownDomains(): Promise<Set<string>> {
    if (!localDomains || localDomains.until < Date.now()) {
      const value = listLocalDomains(options.db).then((d) => new Set(d));
      value.catch(() => (localDomains = undefined));
      localDomains = { until: Date.now() + LOCAL_DOMAINS_TTL_MS, value };
    }
    return localDomains.value;
  }

  /** Authentication and the sender-domain check; DNS trouble leaves facts unknown, never failed. */
  async function senderFacts(raw: Buffer, rest: (() => Readable) | undefined, facts: MessageFacts, log: Logger): Promise<AuthOutcome | undefined> {
    if (options.offline) return undefined;
    const [auth, routable] = await Promise.all([
      checkAuthentication(
        raw,
        {
          mailFrom: facts.mailFrom,
          clientAddress: facts.clientAddress,
          clientHelo: facts.clientHelo,
          hostname: config.lmtp.hostname,
          resolver,
        },
        rest,
      ).catch((err: unknown) => {
        log.warn({ event: 'ingest.auth_failed', err: (err as Error).message }, 'authentication checks failed; treating results as unknown');
        return undefined;
      }),
      facts.mailFrom ? isDomainRoutable(resolver, domainOf(facts.mailFrom)) : Promise.resolve(undefined),
    ]);
    facts.auth = auth?.facts;
    facts.senderDomainRoutable = routable;
    return auth;
  }

  return {
    content,
    async decideFor(raw, envelope, users, log, opts = {}) {
      const { facts, newestReceived } = parseMessage(raw, envelope);
      const userIds = users.map((u) => u.id);
      // The database lookups need only the envelope and the header: they run while DNS, the
      // classifier and the external scorers work.
      const [auth, checked, externalScores, found, domains] = await Promise.all([
        senderFacts(raw, opts.rest, facts, log),
        content.check(raw, userIds).catch((err: unknown) => {
          log.warn({ event: 'classifier.failed', err: (err as Error).message }, 'content classification failed; deciding without it');
          return undefined;
        }),
        scorers.configured
          ? scorers.score(raw, { mailFrom: facts.mailFrom, recipients: users.map((u) => u.address), clientAddress: facts.clientAddress, clientHelo: facts.clientHelo })
          : undefined,
        lookupDecisionFacts(options.db, {
          userIds,
          sender: facts.mailFrom,
          messageIds: [...(facts.referencedMessageIds ?? [])],
          sha256: opts.sha256,
        }),
        ownDomains(),
      ]);
      if (externalScores) facts.externalScores = externalScores;
      if (envelope.fromTrustedMta && facts.mailFrom && domains.has(domainOf(facts.mailFrom)) && submittedWithAuthentication(newestReceived)) {
        facts.localSubmission = facts.mailFrom;
      }
      const { matches, sent } = found;
      const optedOut = found.senderOptedOut;
      const policy: PolicySettings = { challengeRequiresAuth: config.policy.challengeRequiresAuth, localDomains: domains };
      const decisions = new Map<number, Decision>();
      for (const user of users) {
        const m = matches.get(user.id) ?? {};
        const recipient: RecipientFacts = {
          userId: user.id,
          address: user.address,
          addresses: [user.address, ...user.aliases],
          challengesEnabled: user.challengesEnabled,
          whitelisted: m.white,
          blacklisted: m.black,
          senderOptedOut: optedOut,
          sentMail: sent.get(user.id),
          content: checked?.verdicts.get(user.id),
        };
        decisions.set(user.id, decide(facts, recipient, policy));
      }
      return { facts, auth, decisions, content: checked, recentCopies: found.recentCopies };
    },
  };
}
