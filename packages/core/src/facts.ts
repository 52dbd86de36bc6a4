/**
 * Facts about a message and one of its recipients: everything the decision needs, gathered at the
 * edges (parsing, database lookups) and handed to the pure functions in this package.
 */

/** What one message says about itself; the same for all its recipients. */
export interface MessageFacts {
  /** Envelope sender, normalised; '' for the null sender `<>`. */
  mailFrom: string;
  /** Client that handed the message to the MTA (XFORWARD ADDR), when known. */
  clientAddress?: string;
  /** Its HELO name (XFORWARD HELO), when known. */
  clientHelo?: string;
  /** Address in the From: header, normalised, when there is one. */
  fromAddress?: string;
  subject?: string;
  messageId?: string;
  date?: Date;
  /** Every header field by lower-cased name, values unfolded, in order of appearance. */
  headers: ReadonlyMap<string, readonly string[]>;
}

/** A list entry that matched the sender. */
export interface ListMatch {
  kind: 'address' | 'domain';
  value: string;
  source: string;
}

/** What we know of one recipient and how the sender relates to them. */
export interface RecipientFacts {
  userId: number;
  /** The user's primary address (normalised). */
  address: string;
  blacklisted?: ListMatch;
  whitelisted?: ListMatch;
  /** The sender asked, on a challenge page, never to be challenged again. */
  senderOptedOut: boolean;
}
