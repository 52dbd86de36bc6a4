/**
 * Loads the challenge templates — the built-in English and German texts, or the operator's file — and
 * proves at start that each renders within the rules (at most 512 bytes, exactly one link) even with
 * long values, so a bad template stops the worker with a clear message instead of failing challenge by
 * challenge. CRGATE_CHALLENGE_TEMPLATE may name one file for every language, or contain `{lang}`
 * (e.g. /etc/crgate/challenge.{lang}.hbs) for one file per language; a language without its file keeps
 * the built-in text.
 */
import { readFile } from 'node:fs/promises';
import {
  CHALLENGE_LANGUAGES,
  ConfigError,
  compileChallengeTemplate,
  composeChallenge,
  DEFAULT_CHALLENGE_TEMPLATES,
  type ChallengeLanguage,
  type ChallengeTemplate,
  type Config,
} from '@crgate/core';

const KEY = 'CRGATE_CHALLENGE_TEMPLATE (challenge.templateFile)';

async function sourceFor(file: string | undefined, language: ChallengeLanguage): Promise<{ source: string; from?: string }> {
  if (!file) return { source: DEFAULT_CHALLENGE_TEMPLATES[language] };
  const path = file.replaceAll('{lang}', language);
  try {
    return { source: await readFile(path, 'utf8'), from: path };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (file.includes('{lang}') && code === 'ENOENT') return { source: DEFAULT_CHALLENGE_TEMPLATES[language] };
    throw new ConfigError([`${KEY}: cannot read ${path}: ${code ?? (err as Error).message}`]);
  }
}

export type ChallengeTemplates = Record<ChallengeLanguage, ChallengeTemplate>;

export async function loadChallengeTemplates(config: Config): Promise<ChallengeTemplates> {
  const out = {} as ChallengeTemplates;
  const longLocal = 'a'.repeat(40);
  for (const language of CHALLENGE_LANGUAGES) {
    const { source, from } = await sourceFor(config.challenge.templateFile, language);
    const template = compileChallengeTemplate(source);
    try {
      composeChallenge(
        {
          from: config.challenge.from,
          to: `${longLocal}@example.org`,
          recipient: `${longLocal}@${'b'.repeat(30)}.example.org`,
          originalSubject: 'x'.repeat(200),
          link: `${config.publicUrl}/c/${'T'.repeat(43)}`,
          messageId: '<check@crgate>',
          language,
        },
        template,
      );
    } catch (err) {
      throw new ConfigError([`${KEY}: the template${from ? ` ${from}` : ` (built-in, ${language})`} is unusable: ${(err as Error).message}`]);
    }
    out[language] = template;
  }
  return out;
}
