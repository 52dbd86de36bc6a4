import { describe, expect, it } from 'vitest';
import { checkPasswordRules, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../src/passwords.js';

describe('password rules', () => {
  it('counts characters as people do, so four emoji are too short although they take eight UTF-16 units', () => {
    expect('🔑🔑🔑🔑'.length).toBe(PASSWORD_MIN_LENGTH);
    expect(checkPasswordRules('🔑🔑🔑🔑')).toMatch(/at least 8 characters/);
    expect(checkPasswordRules('🔑🔑🔑🔑🔑🔑🔑🔑')).toBeNull();
    expect(checkPasswordRules('correct horse')).toBeNull();
  });

  it('allows at most the longest password, counted in characters', () => {
    expect(checkPasswordRules('é'.repeat(PASSWORD_MAX_LENGTH))).toBeNull();
    expect(checkPasswordRules('x'.repeat(PASSWORD_MAX_LENGTH + 1))).toMatch(/at most/);
  });
});
