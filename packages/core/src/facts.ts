/**
 * Facts about a message and one of its recipients: everything the decision needs, gathered at the
 * edges (parsing, database lookups) and handed to the pure functions in this package.
 */

/** What one message says about itself; the same for all its recipients. */
export interface MessageFacts {
  /** Envelope sender, normalised; '' for the null sender `<>`. */
  mailFrom: string;
  /** Envelope sender lower-cased but with its +tag kept (VERP and list-bounce addresses live there). */
  mailFromOriginal?: string;
  /** Client that handed the message to the MTA (XFORWARD ADDR), when known. */
  clientAddress?: string;
  /** Its HELO name (XFORWARD HELO), when known. */
  clientHelo?: string;
  /**
   * The envelope sender, when it is in one of our domains and our MTA says the message was submitted
   * after authenticating (its own, newest Received header: RFC 3848 `ESMTPSA`, or Postfix's
   * "Authenticated sender:"), and the MTA handed it over itself (a peer of `tap.trustedClients`). With
   * Postfix's `reject_sender_login_mismatch` the login owns that address: mail between our own users.
   */
  localSubmission?: string;
  /** Address in the From: header, normalised, when there is one. */
  fromAddress?: string;
  /** Every address in every From: field, normalised, in order: the author is one person only if all agree. */
  fromAddresses?: readonly string[];
  subject?: string;
  messageId?: string;
  date?: Date;
  /** Every header field by lower-cased name, values unfolded, in order of appearance. */
  headers: ReadonlyMap<string, readonly string[]>;
  /** Addresses in To, Cc, Resent-To and Resent-Cc, normalised. */
  headerRecipients?: readonly string[];
  /**
   * Content types of the body parts found (lower case, parameters dropped, e.g. `multipart/report`,
   * `message/delivery-status`), from a bounded scan of the body; the top-level type comes first.
   */
  contentTypes?: readonly string[];
  /**
   * Message-IDs this message refers to: In-Reply-To, References, and the Message-ID lines of a
   * returned message inside a bounce or report (the first bytes of the body).
   */
  referencedMessageIds?: readonly string[];
  /** SPF, DKIM, DMARC and ARC results, when they were checked. */
  auth?: AuthFacts;
  /** Whether the envelope sender's domain can receive mail (MX, or A/AAAA); undefined when DNS could not tell. */
  senderDomainRoutable?: boolean;
  /** Answers of the external scorers that are configured and answered in time (SpamAssassin, rspamd). */
  externalScores?: readonly ExternalScore[];
}

/** One external scorer's opinion of the message, as its daemon gave it. */
export interface ExternalScore {
  scorer: 'spamassassin' | 'rspamd';
  score: number;
  /** The score from which the answer is a spam vote: `scorers.spamdSpamScore` for SpamAssassin, rspamd's reject score. */
  threshold: number;
  /** A spam vote: score at or above threshold (or rspamd's action `reject`). */
  spam: boolean;
  /** Names of the rules (symbols) that hit. */
  symbols: readonly string[];
  /** rspamd's action (`no action`, `add header`, `reject`…). */
  action?: string;
}

/**
 * The outcome of an authentication check. `temperror` (DNS trouble) and `unknown` (not checked) are
 * never treated as failures: only a published policy that the message violates is.
 */
export type AuthResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy' | 'unknown';

export interface AuthFacts {
  /** SPF for the envelope sender (or the HELO name for the null sender). */
  spf: { result: AuthResult; domain?: string };
  /** One entry per DKIM signature. */
  dkim: ReadonlyArray<{ domain: string; result: AuthResult }>;
  /** DMARC for the From: domain, with the policy it publishes. */
  dmarc: {
    result: AuthResult;
    domain?: string;
    policy?: string;
    /** Why DMARC failed without a domain to check: no From: field, several, or one without a usable domain. */
    malformedFrom?: string;
  };
  arc: { result: AuthResult };
  /** Whether the client address was known (XFORWARD or the MTA's Received header). */
  clientKnown: boolean;
}

/** A list entry that matched the sender. */
export interface ListMatch {
  kind: 'address' | 'domain';
  value: string;
  source: string;
  /** How the sender authenticated when the entry was made: the DKIM domains that signed then. */
  auth?: { dkimDomains?: readonly string[] };
}

/** What we know of one recipient and how the sender relates to them. */
export interface RecipientFacts {
  userId: number;
  /** The user's primary address (normalised). */
  address: string;
  /** The primary address and every alias, normalised. */
  addresses: readonly string[];
  /** The user lets crgate send challenges (off: uncertain mail is only quarantined). */
  challengesEnabled: boolean;
  blacklisted?: ListMatch;
  whitelisted?: ListMatch;
  /** The sender asked, on a challenge page, never to be challenged again. */
  senderOptedOut: boolean;
  /**
   * The recipient's sent-mail log against this message: which referenced Message-IDs the recipient
   * really sent, and whether there is a log at all (no log: nothing can be told from it).
   */
  sentMail?: { matched: readonly string[]; hasLog: boolean };
  /** What the content classifier says of this message for this recipient (global + their own model). */
  content?: ContentVerdict;
}

/** The statistical filter's verdict (packages/classifier), as the policy reads it. */
export interface ContentVerdict {
  verdict: 'ham' | 'unsure' | 'spam';
  /** 0 = surely ham … 1 = surely spam. */
  score: number;
  spamClues: ReadonlyArray<{ token: string; prob: number }>;
  hamClues: ReadonlyArray<{ token: string; prob: number }>;
}

/** Installation-wide policy settings the rules consult. */
export interface PolicySettings {
  /** A challenge needs positive evidence that the envelope sender is real (SPF pass or aligned DKIM). */
  challengeRequiresAuth: boolean;
  /** Every domain crgate protects (the domains of all user addresses), lower case. */
  localDomains: ReadonlySet<string>;
}

export const DEFAULT_POLICY: PolicySettings = { challengeRequiresAuth: true, localDomains: new Set() };
