/** A user's own settings, as the recipient's site shows and changes them. */
import { CHALLENGE_LANGUAGES, type ChallengeLanguage } from '@crgate/core';
import type { Queryable } from './db.js';

export type DigestFrequency = 'daily' | 'weekly' | 'off';
export const DIGEST_FREQUENCIES: readonly DigestFrequency[] = ['daily', 'weekly', 'off'];

/** What the settings page calls each language a challenge can be written in (core's CHALLENGE_LANGUAGES). */
export const LANGUAGE_NAMES: Readonly<Record<ChallengeLanguage, string>> = { en: 'English', de: 'Deutsch' };

export function isChallengeLanguage(value: string): value is ChallengeLanguage {
  return (CHALLENGE_LANGUAGES as readonly string[]).includes(value);
}

export interface UserSettings {
  challengesEnabled: boolean;
  digest: DigestFrequency;
  language: string;
  hasPassword: boolean;
}

export async function getUserSettings(db: Queryable, userId: number): Promise<UserSettings | undefined> {
  const { rows } = await db.query(
    'SELECT challenges_enabled, digest_frequency, language, password_hash IS NOT NULL AS has_password FROM users WHERE id = $1',
    [userId],
  );
  const row = rows[0];
  return row
    ? { challengesEnabled: row.challenges_enabled, digest: row.digest_frequency, language: row.language, hasPassword: row.has_password }
    : undefined;
}

export async function updateUserSettings(
  db: Queryable,
  userId: number,
  settings: { challengesEnabled: boolean; digest: DigestFrequency; language: ChallengeLanguage },
): Promise<void> {
  await db.query('UPDATE users SET challenges_enabled = $2, digest_frequency = $3, language = $4 WHERE id = $1', [
    userId,
    settings.challengesEnabled,
    settings.digest,
    settings.language,
  ]);
}
