/**
 * Loads the challenge template (the built-in one, or the operator's file) and proves at start that it
 * renders within the rules — at most 512 bytes and exactly one link — even with long values, so a bad
 * template stops the worker with a clear message instead of failing challenge by challenge.
 */
import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  compileChallengeTemplate,
  composeChallenge,
  DEFAULT_CHALLENGE_TEMPLATE,
  type ChallengeTemplate,
  type Config,
} from '@crgate/core';

export async function loadChallengeTemplate(config: Config): Promise<ChallengeTemplate> {
  const file = config.challenge.templateFile;
  let source = DEFAULT_CHALLENGE_TEMPLATE;
  if (file) {
    try {
      source = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`CRGATE_CHALLENGE_TEMPLATE (challenge.templateFile): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
    }
  }
  const template = compileChallengeTemplate(source);
  const longLocal = 'a'.repeat(40);
  try {
    composeChallenge(
      {
        from: config.challenge.from,
        to: `${longLocal}@example.org`,
        recipient: `${longLocal}@${'b'.repeat(30)}.example.org`,
        originalSubject: 'x'.repeat(200),
        link: `${config.publicUrl}/c/${'T'.repeat(43)}`,
        messageId: '<check@crgate>',
      },
      template,
    );
  } catch (err) {
    throw new ConfigError([`CRGATE_CHALLENGE_TEMPLATE (challenge.templateFile): the template${file ? ` ${file}` : ''} is unusable: ${(err as Error).message}`]);
  }
  return template;
}
