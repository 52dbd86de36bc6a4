/**
 * The recipient's settings: challenges on or off, the digest frequency, the language of challenges,
 * and an optional password for signing in without a mailed link.
 */
import { Router, type Response } from 'express';
import {
  checkPasswordForUser,
  checkPasswordRules,
  deleteUserSessions,
  DIGEST_FREQUENCIES,
  getUserSettings,
  isChallengeLanguage,
  removePasswordForUser,
  LANGUAGE_NAMES,
  setPasswordForUser,
  takeRateLimit,
  updateUserSettings,
  type DigestFrequency,
} from '@crgate/store';
import { checkSessionCsrf, clientAddress, field, HOUR_MS, page, query, requireUser, signedIn, type SiteDeps } from './site-context.js';


/**
 * For this long after a session began with a mailed link, the site takes it as proof that the mailbox
 * is the user's: such a session may remove a password without knowing it, and only such a session may
 * set a first password. Otherwise a stolen session could set a password, end the owner's sessions, and
 * keep the account: the owner, back in by link, could not change a password they never knew.
 */
export const MAIL_PROOF_MS = 15 * 60_000;

/** What the settings page says after a change (`?done=`). */
const DONE_MESSAGES: Record<string, string> = {
  saved: 'Settings saved.',
  password: 'Password saved. Other sessions were signed out.',
  'password-removed': 'Password removed: you sign in with mailed links. Other sessions were signed out.',
};

const DIGEST_WORDS: Record<DigestFrequency, string> = { daily: 'Every day', weekly: 'Every week', off: 'Never' };

export function settingsRoutes(deps: SiteDeps): Router {
  const router = Router();
  const log = deps.logger;
  router.use('/settings', requireUser(deps));
  const userId = (res: Response) => signedIn(res)!.session.userId;
  /** Until when this session proves the mailbox, or undefined when it does not (MAIL_PROOF_MS). */
  const mailProofUntil = (res: Response): Date | undefined => {
    const { session } = signedIn(res)!;
    const until = new Date(session.createdAt.getTime() + MAIL_PROOF_MS);
    return session.signedInBy === 'link' && deps.now() < until ? until : undefined;
  };

  async function show(res: Response, status: number, extra: Record<string, unknown> = {}): Promise<void> {
    const s = await getUserSettings(deps.db, userId(res));
    if (!s) return void res.redirect(303, `${deps.basePath}/signin`);
    const proof = mailProofUntil(res);
    res.status(status).send(
      page(deps, res, 'settings', {
        title: 'Settings',
        section: 'settings',
        csrf: signedIn(res)!.session.csrfToken,
        challengesEnabled: s.challengesEnabled,
        digests: DIGEST_FREQUENCIES.map((d) => ({ value: d, label: DIGEST_WORDS[d], checked: d === s.digest })),
        languages: Object.entries(LANGUAGE_NAMES).map(([value, label]) => ({ value, label, selected: value === s.language })),
        hasPassword: s.hasPassword,
        // 'HH:MM UTC', as the site shows times.
        mailProofUntil: proof?.toISOString().slice(11, 16),
        passwordForm: s.hasPassword || proof !== undefined,
        ...extra,
      }),
    );
  }

  router.get('/settings', async (req, res) => {
    const done = query(req, 'done');
    await show(res, 200, { flash: done && Object.hasOwn(DONE_MESSAGES, done) ? DONE_MESSAGES[done] : undefined });
  });

  router.post('/settings', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const digest = DIGEST_FREQUENCIES.find((d) => d === field(req, 'digest'));
    const language = field(req, 'language') ?? '';
    if (!digest || !isChallengeLanguage(language)) return show(res, 400, { error: 'Choose a digest frequency and a language.' });
    const challengesEnabled = field(req, 'challenges') === 'on';
    await updateUserSettings(deps.db, userId(res), { challengesEnabled, digest, language });
    log.info({ event: 'web.settings_changed', userId: userId(res), challengesEnabled, digest, language }, 'settings changed');
    res.redirect(303, `${deps.basePath}/settings?done=saved`);
  });

  router.post('/settings/password', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const s = await getUserSettings(deps.db, userId(res));
    const password = field(req, 'password') ?? '';
    if (!s?.hasPassword && !mailProofUntil(res)) {
      return show(res, 403, { passwordError: 'To set a password, sign in again with a mailed link, then set it within 15 minutes.' });
    }
    if (s?.hasPassword) {
      // Guesses at the current password count as sign-in attempts: a stolen session must not become a
      // way to find the password, which outlives it, nor to keep the server hashing.
      const allowed = await takeRateLimit(
        deps.db,
        [
          { bucket: 'password-change', key: String(userId(res)), limit: deps.config.web.signInPerAddressPerHour, windowMs: HOUR_MS },
          { bucket: 'signin-client', key: clientAddress(req), limit: deps.config.web.signInPerClientPerHour, windowMs: HOUR_MS },
        ],
        deps.now(),
      );
      if (!allowed) {
        res.set('Retry-After', '3600');
        return show(res, 429, { passwordError: 'Too many attempts. Try again in an hour.' });
      }
      if (!(await checkPasswordForUser(deps.db, userId(res), field(req, 'current') ?? ''))) {
        return show(res, 400, { passwordError: 'Your current password is not right.' });
      }
    }
    const bad = checkPasswordRules(password);
    if (bad) return show(res, 400, { passwordError: `The new password is not usable: ${bad}.` });
    if (password !== field(req, 'repeat')) return show(res, 400, { passwordError: 'The two new passwords differ.' });
    await setPasswordForUser(deps.db, userId(res), password);
    await deleteUserSessions(deps.db, userId(res), signedIn(res)!.sessionId);
    log.info({ event: 'web.settings_changed', userId: userId(res), password: true }, 'password changed');
    res.redirect(303, `${deps.basePath}/settings?done=password`);
  });

  router.post('/settings/password/remove', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    if (!mailProofUntil(res)) {
      return show(res, 403, { passwordError: 'To remove the password without it, sign in again with a mailed link, then remove it within 15 minutes.' });
    }
    await removePasswordForUser(deps.db, userId(res));
    await deleteUserSessions(deps.db, userId(res), signedIn(res)!.sessionId);
    log.info({ event: 'web.settings_changed', userId: userId(res), password: 'removed' }, 'password removed');
    res.redirect(303, `${deps.basePath}/settings?done=password-removed`);
  });

  return router;
}
