/**
 * The challenge message, standardised so that it can never be mistaken for, or become, backscatter
 * spam: `C/R:` subject, RFC 3834 Auto-Submitted, one short text/plain part, exactly one link to our
 * own site, nothing of the original body. The body comes from a handlebars template the operator may
 * replace; composeChallenge checks every rendering against these rules.
 */
import Handlebars from 'handlebars';

export const CHALLENGE_SUBJECT_PREFIX = 'C/R: ';
export const CHALLENGE_SUBJECT_PHRASE = 'please confirm your message';
export const MAX_ORIGINAL_SUBJECT_CHARS = 60;
export const MAX_CHALLENGE_BODY_BYTES = 512;

export const DEFAULT_CHALLENGE_TEMPLATE = `Hello,

you wrote to {{recipient}}. This mailbox is protected against spam:
your message is held until you confirm, once, that you sent it.
Please open this link and press the button:

{{link}}

If you did not write to {{recipient}}, ignore this mail.
Nothing more will be sent.
`;

/** The languages a challenge can be written in (the recipient's setting picks one). */
export const CHALLENGE_LANGUAGES = ['en', 'de'] as const;
export type ChallengeLanguage = (typeof CHALLENGE_LANGUAGES)[number];

/** The fixed phrase after `C/R: `, per language. */
export const CHALLENGE_SUBJECT_PHRASES: Record<ChallengeLanguage, string> = {
  en: CHALLENGE_SUBJECT_PHRASE,
  de: 'Bitte bestätigen Sie Ihre Nachricht',
};

export const DEFAULT_CHALLENGE_TEMPLATES: Record<ChallengeLanguage, string> = {
  en: DEFAULT_CHALLENGE_TEMPLATE,
  de: `Guten Tag,

Sie haben an {{recipient}} geschrieben. Ihre Nachricht wartet,
bis Sie einmal bestätigen, dass sie von Ihnen ist. Bitte öffnen
Sie diesen Link und drücken Sie den Knopf:

{{link}}

Haben Sie nicht geschrieben, ignorieren Sie diese Nachricht.
Es folgt nichts weiter.
`,
};

/** The recipient's language if crgate has a challenge in it, else English. */
export function challengeLanguage(language: string | undefined): ChallengeLanguage {
  const l = (language ?? '').toLowerCase().slice(0, 2);
  return (CHALLENGE_LANGUAGES as readonly string[]).includes(l) ? (l as ChallengeLanguage) : 'en';
}

/** Removes CR, LF and other control characters, folds white space, keeps at most `max` characters. */
export function sanitizeSubject(subject: string | undefined, max = MAX_ORIGINAL_SUBJECT_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const clean = (subject ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  const chars = Array.from(clean);
  return chars.length <= max ? clean : chars.slice(0, max).join('').trimEnd();
}

export interface ChallengeInput {
  /** Challenge From: address. */
  from: string;
  /** The original envelope sender: the only address a challenge goes to. */
  to: string;
  /** The protected recipient, shown in the text. */
  recipient: string;
  originalSubject?: string;
  originalMessageId?: string;
  /** `${publicUrl}/c/<token>` */
  link: string;
  /** Our own Message-ID, remembered so a bounce or reply to the challenge is recognised. */
  messageId: string;
  /** The recipient's language (en when crgate has no challenge in it). */
  language?: string;
}

export interface ComposedChallenge {
  envelope: { from: ''; to: string };
  from: string;
  to: string;
  subject: string;
  messageId: string;
  inReplyTo?: string;
  references?: string;
  headers: Record<string, string>;
  text: string;
}

export class ChallengeTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChallengeTemplateError';
  }
}

export type ChallengeTemplate = (ctx: { recipient: string; link: string; subject: string }) => string;

export function compileChallengeTemplate(source: string): ChallengeTemplate {
  const template = Handlebars.compile(source, { noEscape: true, strict: false });
  return (ctx) => template(ctx);
}

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
/** `<id>` of printable ASCII (no `<`, `>` or white space), at most 900 characters. */
const MESSAGE_ID_RE = /^<[!-;=?-~]{1,900}>$/;

export function composeChallenge(input: ChallengeInput, template?: ChallengeTemplate): ComposedChallenge {
  const language = challengeLanguage(input.language);
  const render = template ?? compileChallengeTemplate(DEFAULT_CHALLENGE_TEMPLATES[language]);
  // The ingest decoded the subject's encoded words once; one still in the text (the sender encoded it
  // twice) would be decoded by the sender's mail client, CR/LF and all. `=?` cannot start one.
  const original = sanitizeSubject(input.originalSubject).replace(/=\?/g, '= ?');
  const subject = `${CHALLENGE_SUBJECT_PREFIX}${CHALLENGE_SUBJECT_PHRASES[language]}${original ? `: ${original}` : ''}`;
  const text = render({ recipient: input.recipient, link: input.link, subject: original }).replace(/\r?\n/g, '\r\n');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CHALLENGE_BODY_BYTES) {
    throw new ChallengeTemplateError(`challenge body is ${bytes} bytes, more than ${MAX_CHALLENGE_BODY_BYTES}`);
  }
  const urls = text.match(URL_RE) ?? [];
  if (urls.length !== 1 || urls[0] !== input.link) {
    throw new ChallengeTemplateError(`challenge body must contain exactly one URL, the challenge link; found ${urls.length}`);
  }
  // Printable ASCII only, and short enough for one header line: a header is 7-bit and at most 998 octets.
  const originalId = input.originalMessageId && MESSAGE_ID_RE.test(input.originalMessageId) ? input.originalMessageId : undefined;
  return {
    envelope: { from: '', to: input.to },
    from: input.from,
    to: input.to,
    subject,
    messageId: input.messageId,
    ...(originalId ? { inReplyTo: originalId, references: originalId } : {}),
    headers: {
      'Auto-Submitted': 'auto-replied (challenge)',
      'X-Auto-Response-Suppress': 'All',
      Precedence: 'bulk',
    },
    text,
  };
}
