import { describe, expect, it } from 'vitest';
import { decide, planChallenge, type AuthFacts, type MessageFacts, type PolicySettings, type RecipientFacts } from '../src/index.js';

const spfPass: AuthFacts = {
  spf: { result: 'pass', domain: 'remote.test' },
  dkim: [],
  dmarc: { result: 'none' },
  arc: { result: 'none' },
  clientKnown: true,
};

/** A plain person-to-person message from bob@remote.test to alice, SPF-authenticated. */
const message = (over: Partial<MessageFacts> = {}): MessageFacts => ({
  mailFrom: 'bob@remote.test',
  mailFromOriginal: 'bob@remote.test',
  fromAddress: 'bob@remote.test',
  subject: 'Lunch?',
  headers: new Map(),
  headerRecipients: ['alice@example.test'],
  contentTypes: ['text/plain'],
  auth: spfPass,
  senderDomainRoutable: true,
  ...over,
});
const headers = (h: Record<string, string>) => new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), [v]]));
const recipient = (over: Partial<RecipientFacts> = {}): RecipientFacts => ({
  userId: 1,
  address: 'alice@example.test',
  addresses: ['alice@example.test', 'a.smith@example.test'],
  challengesEnabled: true,
  senderOptedOut: false,
  ...over,
});
const policy: PolicySettings = { challengeRequiresAuth: true, localDomains: new Set(['example.test']) };
const symbols = (m: Partial<MessageFacts>, r: Partial<RecipientFacts> = {}, p = policy) => decide(message(m), recipient(r), p).reasons.map((x) => x.symbol);
const action = (m: Partial<MessageFacts>, r: Partial<RecipientFacts> = {}, p = policy) => decide(message(m), recipient(r), p).action;

describe('mail between our own users', () => {
  // Dave submitted it from home: SPF fails for our own domain, but our MTA saw him log in.
  const fromDave = { mailFrom: 'dave@example.test', mailFromOriginal: 'dave@example.test', fromAddress: 'dave@example.test', auth: undefined, localSubmission: 'dave@example.test' };

  it('delivers what one of our users sent after logging in to our MTA, though SPF cannot vouch for it', () => {
    expect(action(fromDave)).toBe('deliver');
    expect(symbols(fromDave)).toContain('LOCAL_SUBMISSION');
    expect(symbols(fromDave)).not.toContain('FORGED_LOCAL_SENDER');
  });

  it('holds it when its From: names another of our addresses than the one that logged in', () => {
    expect(action({ ...fromDave, fromAddress: 'ceo@example.test' })).toBe('quarantine');
    expect(symbols({ ...fromDave, fromAddress: 'ceo@example.test' })).toContain('FORGED_LOCAL_SENDER');
  });

  it('holds the same mail when nothing says the sender logged in', () => {
    expect(symbols({ ...fromDave, localSubmission: undefined })).toContain('FORGED_LOCAL_SENDER');
    expect(action({ ...fromDave, localSubmission: undefined })).toBe('quarantine');
  });

  it("lets the recipient's blacklist win over it", () => {
    expect(action(fromDave, { blacklisted: { kind: 'address', value: 'dave@example.test', source: 'manual' } })).toBe('discard');
  });
});

describe('lists', () => {
  it('challenges an authenticated sender on no list', () => {
    expect(action({})).toBe('challenge');
    expect(symbols({})).toEqual(['SPF_PASS', 'UNKNOWN_SENDER']);
  });

  it('delivers a whitelisted address', () => {
    const d = decide(message(), recipient({ whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' } }), policy);
    expect(d.action).toBe('deliver');
    expect(d.reasons[0]!.symbol).toBe('WHITELIST_ADDRESS');
  });

  it('delivers a whitelisted domain', () => {
    expect(action({}, { whitelisted: { kind: 'domain', value: 'remote.test', source: 'manual' } })).toBe('deliver');
  });

  it('discards a blacklisted sender even when it is also whitelisted', () => {
    const d = decide(
      message(),
      recipient({
        blacklisted: { kind: 'domain', value: 'remote.test', source: 'manual' },
        whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' },
      }),
      policy,
    );
    expect(d.action).toBe('discard');
    expect(d.reasons.slice(0, 2).map((r) => r.symbol)).toEqual(['BLACKLIST_DOMAIN', 'WHITELIST_ADDRESS']);
  });

  it('does not let a forged whitelisted address through, and does not challenge it', () => {
    const forged = { ...spfPass, spf: { result: 'fail' as const, domain: 'remote.test' } };
    expect(action({ auth: forged }, { whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' } })).toBe('quarantine');
    expect(symbols({ auth: forged }, { whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' } })).toContain('WHITELIST_FORGED');
  });
});

describe('whitelist entries bound to authentication', () => {
  const entry = { kind: 'address' as const, value: 'bob@remote.test', source: 'confirmed', auth: { dkimDomains: ['remote.test'] } };

  it('delivers when the DKIM domain seen before signs again', () => {
    expect(action({ auth: { ...spfPass, dkim: [{ domain: 'remote.test', result: 'pass' }] } }, { whitelisted: entry })).toBe('deliver');
  });

  it('holds a message that lacks the DKIM signature seen before', () => {
    expect(action({}, { whitelisted: entry })).toBe('quarantine');
    expect(symbols({}, { whitelisted: entry })).toContain('WHITELIST_FORGED');
  });

  it('does not hold it when DNS trouble kept the signature from being checked', () => {
    expect(action({ auth: { ...spfPass, dkim: [{ domain: 'remote.test', result: 'temperror' }] } }, { whitelisted: entry })).toBe('deliver');
  });
});

describe('never challenge what can be recognised', () => {
  const cases: Array<[string, Partial<MessageFacts>, string]> = [
    ['the null sender', { mailFrom: '', mailFromOriginal: '' }, 'NULL_SENDER'],
    ['MAILER-DAEMON', { mailFrom: 'mailer-daemon@mx.remote.test', mailFromOriginal: 'mailer-daemon@mx.remote.test' }, 'MAILER_DAEMON_SENDER'],
    ['postmaster', { mailFrom: 'postmaster@remote.test', mailFromOriginal: 'postmaster@remote.test' }, 'MAILER_DAEMON_SENDER'],
    ["Postfix's double-bounce sender #@[]", { mailFrom: '#@[]', mailFromOriginal: '#@[]' }, 'MAILER_DAEMON_SENDER'],
    ['an owner- list address', { mailFrom: 'owner-users@remote.test', mailFromOriginal: 'owner-users@remote.test' }, 'LIST_SOFTWARE_SENDER'],
    ['a -request list address', { mailFrom: 'users-request@remote.test', mailFromOriginal: 'users-request@remote.test' }, 'LIST_SOFTWARE_SENDER'],
    ['a list bounce address with a +tag', { mailFrom: 'users@remote.test', mailFromOriginal: 'users+bounces-123-alice=example.test@remote.test' }, 'LIST_SOFTWARE_SENDER'],
    ['LISTSERV', { mailFrom: 'listserv@remote.test', mailFromOriginal: 'listserv@remote.test' }, 'LIST_SOFTWARE_SENDER'],
    ['majordomo', { mailFrom: 'majordomo@remote.test', mailFromOriginal: 'majordomo@remote.test' }, 'LIST_SOFTWARE_SENDER'],
    ['a no-reply sender', { mailFrom: 'no-reply@remote.test', mailFromOriginal: 'no-reply@remote.test' }, 'NOREPLY_SENDER'],
    ['a noreply From:', { fromAddress: 'noreply@remote.test' }, 'NOREPLY_SENDER'],
    ['a do-not-reply sender', { mailFrom: 'do-not-reply@remote.test', mailFromOriginal: 'do-not-reply@remote.test' }, 'NOREPLY_SENDER'],
    ['a bounce sender', { mailFrom: 'bounces@remote.test', mailFromOriginal: 'bounces-42@remote.test' }, 'NOREPLY_SENDER'],
    ['a multipart/report', { contentTypes: ['multipart/report', 'message/delivery-status'] }, 'DELIVERY_REPORT'],
    ['a nested feedback report', { contentTypes: ['multipart/mixed', 'message/feedback-report'] }, 'DELIVERY_REPORT'],
    ['a read receipt', { contentTypes: ['multipart/report', 'message/disposition-notification'] }, 'DELIVERY_REPORT'],
    ['Auto-Submitted: auto-replied', { headers: headers({ 'Auto-Submitted': 'auto-replied' }) }, 'AUTO_SUBMITTED'],
    ['Auto-Submitted: auto-generated', { headers: headers({ 'Auto-Submitted': 'auto-generated' }) }, 'AUTO_SUBMITTED'],
    ['X-Autoreply', { headers: headers({ 'X-Autoreply': 'yes' }) }, 'AUTO_REPLY'],
    ['X-Autorespond', { headers: headers({ 'X-Autorespond': 'x' }) }, 'AUTO_REPLY'],
    ['an out-of-office subject', { subject: 'Out of Office: Lunch?' }, 'AUTO_REPLY'],
    ['an Automatic reply subject', { subject: 'Automatic reply: Lunch?' }, 'AUTO_REPLY'],
    ['a Lotus Notes AUTO: subject', { subject: 'AUTO: Bob is out of the office.' }, 'AUTO_REPLY'],
    ['a German Abwesenheitsnotiz', { subject: 'Abwesenheitsnotiz: Lunch?' }, 'AUTO_REPLY'],
    ['a trailing (Automatic Response)', { subject: 'Re: Lunch? (Automatic Response)' }, 'AUTO_REPLY'],
    ['X-Auto-Response-Suppress: All', { headers: headers({ 'X-Auto-Response-Suppress': 'All' }) }, 'AUTO_RESPONSE_SUPPRESSED'],
    ['X-Auto-Response-Suppress: DR, OOF', { headers: headers({ 'X-Auto-Response-Suppress': 'DR, OOF' }) }, 'AUTO_RESPONSE_SUPPRESSED'],
    ['List-Id', { headers: headers({ 'List-Id': '<users.lists.remote.test>' }) }, 'MAILING_LIST'],
    ['List-Unsubscribe', { headers: headers({ 'List-Unsubscribe': '<mailto:u@remote.test>' }) }, 'MAILING_LIST'],
    ['X-Mailing-List', { headers: headers({ 'X-Mailing-List': 'users@remote.test' }) }, 'MAILING_LIST'],
    ['X-ML-Name', { headers: headers({ 'X-ML-Name': 'users' }) }, 'MAILING_LIST'],
    ['Precedence: bulk', { headers: headers({ Precedence: 'bulk' }) }, 'BULK_PRECEDENCE'],
    ['Precedence: junk', { headers: headers({ Precedence: 'junk' }) }, 'BULK_PRECEDENCE'],
    ["another system's challenge", { headers: headers({ 'Auto-Submitted': 'auto-replied (challenge)' }) }, 'CR_CHALLENGE'],
    ['a C/R: subject', { subject: 'C/R: please confirm your message: Lunch?' }, 'CR_CHALLENGE'],
    ['a BoxTrapper challenge', { headers: headers({ 'X-Boxtrapper': 'abc' }) }, 'CR_CHALLENGE'],
    ['a Bluebottle challenge', { headers: headers({ 'X-Bluebottle-Request': '<1234>' }) }, 'CR_CHALLENGE'],
    ['an ASK confirmation request', { headers: headers({ 'X-AskVersion': '2.4.1' }) }, 'CR_CHALLENGE'],
    ['a TMDA confirmation request', { headers: headers({ 'Message-ID': '<1205.1234.abc-tmda-confirm>' }) }, 'CR_CHALLENGE'],
    ['an MDaemon system sender', { mailFrom: 'mdaemon@remote.test', mailFromOriginal: 'MDaemon@remote.test' }, 'MAILER_DAEMON_SENDER'],
    ['a bracketed auto-reply tag', { subject: '[Auto-Reply] Lunch?' }, 'AUTO_REPLY'],
    ['a Boxbe notice', { mailFrom: 'noreply@boxbe.com', mailFromOriginal: 'noreply@boxbe.com', fromAddress: 'noreply@boxbe.com' }, 'CR_CHALLENGE'],
    ['mail not addressed to the recipient', { headerRecipients: ['list@remote.test'] }, 'NOT_ADDRESSED_TO_RECIPIENT'],
    ['an SPF fail', { auth: { ...spfPass, spf: { result: 'fail', domain: 'remote.test' } } }, 'SPF_FAIL'],
    ['a DMARC fail', { auth: { ...spfPass, dmarc: { result: 'fail', domain: 'remote.test', policy: 'reject' } } }, 'DMARC_FAIL'],
    ['a sender with no way to receive mail', { senderDomainRoutable: false }, 'SENDER_DOMAIN_UNROUTABLE'],
    ['an unauthenticated sender', { auth: { ...spfPass, spf: { result: 'none', domain: 'remote.test' } } }, 'SENDER_UNVERIFIED'],
    ['a From: domain not aligned with the envelope', { fromAddress: 'ceo@bank.test' }, 'FROM_NOT_ALIGNED'],
  ];
  for (const [what, facts, symbol] of cases) {
    it(`does not challenge ${what} (${symbol})`, () => {
      const d = decide(message(facts), recipient(), policy);
      expect(d.action).toBe('quarantine');
      expect(d.reasons.map((r) => r.symbol)).toContain(symbol);
    });
  }

  it('accepts its own recipient by alias in To', () => {
    expect(action({ headerRecipients: ['a.smith@example.test'] })).toBe('challenge');
  });

  it('takes Auto-Submitted: no as a person', () => {
    expect(action({ headers: headers({ 'Auto-Submitted': 'no' }) })).toBe('challenge');
  });

  it('does not take an ordinary subject for an auto-reply', () => {
    expect(action({ subject: 'Our vacation photos' })).toBe('challenge');
  });

  it('takes a bracketed auto-reply phrase only as the whole tag, not a list tag that starts with one', () => {
    expect(action({ subject: '[Absence-Team] Rota for May' })).toBe('challenge');
    expect(action({ subject: '[Out of Office]: Lunch?' })).toBe('quarantine');
  });

  it('does not challenge mail that forges the recipient\'s own address', () => {
    const d = decide(message({ mailFrom: 'alice@example.test', mailFromOriginal: 'alice@example.test', fromAddress: 'alice@example.test', auth: { ...spfPass, spf: { result: 'none', domain: 'example.test' } } }), recipient(), policy);
    expect(d.action).toBe('quarantine');
    expect(d.reasons.map((r) => r.symbol)).toContain('FORGED_LOCAL_SENDER');
  });

  it('does not challenge mail from one of our domains that does not authenticate', () => {
    expect(symbols({ mailFrom: 'ceo@example.test', mailFromOriginal: 'ceo@example.test', fromAddress: 'ceo@example.test', auth: undefined })).toContain('FORGED_LOCAL_SENDER');
  });

  it('does not challenge a sender who asked not to be', () => {
    expect(action({}, { senderOptedOut: true })).toBe('quarantine');
    expect(symbols({}, { senderOptedOut: true })).toContain('SENDER_OPTED_OUT');
  });

  it('does not challenge for a recipient who turned challenges off', () => {
    expect(action({}, { challengesEnabled: false })).toBe('quarantine');
    expect(symbols({}, { challengesEnabled: false })).toContain('CHALLENGES_DISABLED');
  });

  it('treats DNS trouble as unknown, never as a failure', () => {
    const trouble: AuthFacts = { ...spfPass, spf: { result: 'temperror', domain: 'remote.test' }, dmarc: { result: 'temperror' } };
    const s = symbols({ auth: trouble, senderDomainRoutable: undefined });
    expect(s).not.toContain('SPF_FAIL');
    expect(s).not.toContain('DMARC_FAIL');
    expect(s).not.toContain('SENDER_DOMAIN_UNROUTABLE');
    expect(s).toContain('SPF_TEMPERROR');
  });
});

describe('recognising automatic mail as senders really write it', () => {
  const held = (m: Partial<MessageFacts>) => decide(message(m), recipient(), policy);

  for (const [what, from, symbol] of [
    ['From: MAILER-DAEMON with no domain', 'Mail Delivery Subsystem <MAILER-DAEMON>', 'MAILER_DAEMON_SENDER'],
    ['an empty From: address named MAILER-DAEMON', 'MAILER-DAEMON <>', 'MAILER_DAEMON_SENDER'],
  ] as const) {
    it(`does not challenge ${what}`, () => {
      const d = held({ fromAddress: undefined, headers: headers({ From: from }) });
      expect(d.action).toBe('quarantine');
      expect(d.reasons.map((r) => r.symbol)).toContain(symbol);
    });
  }

  for (const [value, symbol] of [
    ['Auto-Submitted: (vacation) auto-replied', 'AUTO_SUBMITTED'],
    ['Precedence: bulk;', 'BULK_PRECEDENCE'],
    ['Precedence: "bulk"', 'BULK_PRECEDENCE'],
    ['Precedence: list (mailman)', 'BULK_PRECEDENCE'],
    ['Precedence: Junk', 'BULK_PRECEDENCE'],
  ] as const) {
    it(`reads "${value}" through its comment, quotes or punctuation`, () => {
      const [name, v] = value.split(': ');
      const d = held({ headers: headers({ [name!]: v! }) });
      expect(d.action).toBe('quarantine');
      expect(d.reasons.map((r) => r.symbol)).toContain(symbol);
    });
  }

  it('challenges a person who writes about someone out of the office, or answers a Lotus Notes notice', () => {
    expect(action({ subject: 'Who is out of the office next week? Rota inside' })).toBe('challenge');
    expect(action({ subject: 'Re: [users] Alice Smith/ACME is out of the office.' })).toBe('challenge');
  });

  it('takes Auto-Submitted: no, with a comment, for a person', () => {
    expect(action({ headers: headers({ 'Auto-Submitted': 'no (sent by a person)' }) })).toBe('challenge');
  });

  for (const subject of ['Mail could not be delivered', 'Unzustellbar: Ihre Nachricht', 'No se puede entregar: hola', 'Onbestelbaar: test', 'Warning: message 1AbC23-000 delayed 24 hours', 'Antwort: Abwesenheit bis Montag', 'Autosvar: ferie', 'Автоматический ответ: Обед?', '自动回复: 午餐', '自動応答: ランチ', 'Otomatik yanıt: Öğle yemeği', 'Automatikus válasz: Ebéd', 'Αυτόματη απάντηση: Γεύμα', 'Răspuns automat: Prânz', '자동 회신: 점심', 'Fuori sede: pranzo', 'Alice Smith/ACME is out of the office.', '[users] Alice Smith/ACME is out of the office.']) {
    it(`does not challenge a message with the subject "${subject}"`, () => {
      expect(action({ subject })).toBe('quarantine');
    });
  }
});

describe('backscatter: automatic answers to mail the recipient never sent', () => {
  const withLog = { sentMail: { matched: [], hasLog: true } };

  it('discards a bounce from the null sender that refers to no message the recipient sent', () => {
    expect(action({ mailFrom: '', mailFromOriginal: '', subject: 'Undelivered Mail Returned to Sender' }, withLog)).toBe('discard');
  });

  it('discards an auto-reply marked Auto-Submitted that refers to no message the recipient sent', () => {
    expect(action({ subject: 'Out of office', headers: headers({ 'Auto-Submitted': 'auto-replied' }) }, withLog)).toBe('discard');
  });

  for (const subject of [
    'Absence request for next week',
    'Out of office next week - meeting on Monday?',
    'Away until Monday, can we move our call?',
    'Delivery problem with order 4711',
    'Abuse report from the parents committee',
    'Please confirm your email address for the conference',
  ]) {
    it(`holds, and never discards, a person's message whose subject only reads like one: "${subject}"`, () => {
      const d = decide(message({ subject }), recipient(withLog), policy);
      expect(d.action).toBe('quarantine');
      expect(d.reasons.map((r) => r.symbol)).not.toContain('BACKSCATTER');
    });
  }
});

describe('positive evidence before a challenge', () => {
  it('accepts a DKIM signature aligned with the envelope sender instead of SPF', () => {
    const auth: AuthFacts = { ...spfPass, spf: { result: 'none', domain: 'remote.test' }, dkim: [{ domain: 'mail.remote.test', result: 'pass' }] };
    expect(action({ auth })).toBe('challenge');
  });

  it('does not accept a DKIM signature of another domain', () => {
    const auth: AuthFacts = { ...spfPass, spf: { result: 'none', domain: 'remote.test' }, dkim: [{ domain: 'esp.example', result: 'pass' }] };
    expect(action({ auth })).toBe('quarantine');
  });

  it('does not accept a failing DKIM signature', () => {
    const auth: AuthFacts = { ...spfPass, spf: { result: 'none', domain: 'remote.test' }, dkim: [{ domain: 'remote.test', result: 'fail' }] };
    expect(action({ auth })).toBe('quarantine');
  });

  it('quarantines when authentication was not checked', () => {
    expect(action({ auth: undefined })).toBe('quarantine');
    expect(symbols({ auth: undefined })).toContain('SENDER_UNVERIFIED');
  });

  it('can be turned off by the operator', () => {
    expect(action({ auth: undefined }, {}, { ...policy, challengeRequiresAuth: false })).toBe('challenge');
  });
});

describe('challenge plan', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const challenge = { action: 'challenge' as const, reasons: [{ symbol: 'UNKNOWN_SENDER', weight: 0, detail: '' }] };

  it('creates a challenge for a new pair', () => {
    expect(planChallenge(challenge, {}, now, 7).plan).toEqual({ kind: 'create' });
  });

  it('joins the challenge already out for the pair', () => {
    const r = planChallenge(challenge, { active: { id: 'c1', createdAt: new Date('2026-11-20T00:00:00Z') } }, now, 7);
    expect(r.plan).toEqual({ kind: 'attach', challengeId: 'c1' });
    expect(r.decision.action).toBe('challenge');
    expect(r.decision.reasons.map((x) => x.symbol)).toEqual(['UNKNOWN_SENDER', 'CHALLENGE_PENDING']);
  });

  it('holds without a challenge when the pair was challenged within the period', () => {
    const r = planChallenge(challenge, { lastCreatedAt: new Date('2026-11-18T00:00:00Z') }, now, 7);
    expect(r.plan).toEqual({ kind: 'none' });
    expect(r.decision.action).toBe('quarantine');
    expect(r.decision.reasons.at(-1)!.symbol).toBe('RATE_LIMIT_PAIR');
  });

  it('releases a message whose sender confirmed the pair\'s challenge while it was being decided', () => {
    const p = planChallenge(challenge, { lastCreatedAt: new Date(now.getTime() - 3_600_000), confirmedAt: new Date(now.getTime() - 5_000) }, now, 7);
    expect(p.plan).toEqual({ kind: 'release' });
    expect(p.decision.action).toBe('deliver');
    expect(p.decision.reasons.at(-1)!.symbol).toBe('CHALLENGE_CONFIRMED');
  });

  it('leaves a confirmation of long ago to the whitelist: the recipient may have taken the sender off it', () => {
    const p = planChallenge(challenge, { lastCreatedAt: new Date(now.getTime() - 86_400_000), confirmedAt: new Date(now.getTime() - 3_600_000) }, now, 7);
    expect(p.plan).toEqual({ kind: 'none' });
    expect(p.decision.reasons.at(-1)!.symbol).toBe('RATE_LIMIT_PAIR');
  });

  it('challenges again once the period has passed', () => {
    expect(planChallenge(challenge, { lastCreatedAt: new Date('2026-11-10T00:00:00Z') }, now, 7).plan).toEqual({ kind: 'create' });
  });

  it('leaves other decisions alone', () => {
    const deliver = { action: 'deliver' as const, reasons: [] };
    expect(planChallenge(deliver, {}, now, 7)).toEqual({ decision: deliver, plan: { kind: 'none' } });
  });
});

describe('content classifier', () => {
  const verdict = (v: 'ham' | 'unsure' | 'spam', score: number) => ({ verdict: v, score, spamClues: [], hamClues: [] });

  it('discards what it is sure is spam', () => {
    expect(action({}, { content: verdict('spam', 0.99) })).toBe('discard');
  });

  it('delivers what it is sure is ham, without a challenge', () => {
    expect(action({}, { content: verdict('ham', 0.01) })).toBe('deliver');
  });

  it('leaves the uncertain rest to the challenge rules', () => {
    expect(action({}, { content: verdict('unsure', 0.5) })).toBe('challenge');
    expect(action({ auth: undefined }, { content: verdict('unsure', 0.5) })).toBe('quarantine');
  });

  it('does not deliver a forgery that reads like ham', () => {
    expect(action({ auth: { ...spfPass, dmarc: { result: 'fail', domain: 'remote.test', policy: 'reject' } } }, { content: verdict('ham', 0.01) })).toBe('quarantine');
  });

  it('does not deliver a bounce on its words alone', () => {
    expect(action({ mailFrom: '', mailFromOriginal: '', contentTypes: ['multipart/report'] }, { content: verdict('ham', 0.01) })).toBe('quarantine');
  });

  it('does not deliver a notice from list software that is not a list post', () => {
    expect(action({ mailFrom: 'users-admin@remote.test', mailFromOriginal: 'users-admin@remote.test', fromAddress: 'users-admin@remote.test' }, { content: verdict('ham', 0.01) })).toBe('quarantine');
  });

  it('delivers a list post that reads like ham', () => {
    expect(action({ mailFrom: 'users-bounces@remote.test', mailFromOriginal: 'users-bounces@remote.test', headers: headers({ 'List-Id': '<users.remote.test>', 'List-Post': '<mailto:users@remote.test>' }) }, { content: verdict('ham', 0.01) })).toBe('deliver');
  });

  it('delivers a post to a list older than List-Id that reads like ham', () => {
    // LISTSERV and Majordomo add no List-* fields: the post is addressed to the list the envelope sender owns.
    const listserv = { mailFrom: 'owner-words@listserv.remote.test', mailFromOriginal: 'owner-words@listserv.remote.test', fromAddress: 'editor@words.test' };
    expect(action({ ...listserv, headerRecipients: ['words@listserv.remote.test'] }, { content: verdict('ham', 0.01) })).toBe('deliver');
    expect(action({ ...listserv, headerRecipients: [], headers: headers({ Sender: 'Words <WORDS@listserv.remote.test>' }) }, { content: verdict('ham', 0.01) })).toBe('deliver');
  });

  it('does not take a list software notice to a subscriber for a list post', () => {
    expect(action({ mailFrom: 'words-request@remote.test', mailFromOriginal: 'words-request@remote.test', headerRecipients: ['alice@example.test'] }, { content: verdict('ham', 0.01) })).toBe('quarantine');
    expect(action({ mailFrom: 'owner-words@remote.test', mailFromOriginal: 'owner-words@remote.test', headerRecipients: ['other@remote.test'] }, { content: verdict('ham', 0.01) })).toBe('quarantine');
  });

  it('lets the recipient\'s blacklist win over a ham verdict', () => {
    expect(action({}, { content: verdict('ham', 0.01), blacklisted: { kind: 'address', value: 'bob@remote.test', source: 'manual' } })).toBe('discard');
  });
});
