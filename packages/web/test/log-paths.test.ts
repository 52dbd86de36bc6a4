/** What the site logs of a failed request's path: never a link's token. */
import { describe, expect, it } from 'vitest';
import { withoutTokens } from '../src/web-server.js';

describe('paths in the error log', () => {
  it('leaves out a challenge, sign-in or digest token, and keeps the route', () => {
    expect(withoutTokens('/c/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde')).toBe('/c/…');
    expect(withoutTokens('/signin/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde')).toBe('/signin/…');
    expect(withoutTokens('/c/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde/no-challenge')).toBe('/c/…/no-challenge');
    expect(withoutTokens('/d/1234.56.1767225600.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde')).toBe('/d/…');
  });

  it('keeps ordinary paths as they are', () => {
    expect(withoutTokens('/q/123')).toBe('/q/123');
    expect(withoutTokens('/settings/password')).toBe('/settings/password');
  });
});
