/**
 * The `crgate` command as an operator meets it: help, user management, and refusing to start on bad
 * configuration — naming the key and the reason, exiting non-zero, before any socket opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { runCli } from './helpers/engine-process.js';

describe('crgate command', () => {
  let t: TestEnvironment;
  beforeAll(async () => {
    t = await createTestEnvironment();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('lists its commands', async () => {
    const r = await runCli(['--help'], t.env);
    expect(r.code).toBe(0);
    for (const cmd of ['start', 'migrate', 'users', 'config']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
  });

  it('creates the database on first use and manages users and aliases', async () => {
    expect((await runCli(['users', 'add', 'Alice@Example.Test', 'bob@example.test'], t.env)).stdout).toBe(
      'added alice@example.test\nadded bob@example.test\n',
    );
    expect((await runCli(['users', 'add', 'alice@example.test'], t.env)).stdout).toBe('alice@example.test already exists\n');
    expect((await runCli(['users', 'alias', 'alice@example.test', 'al@example.test'], t.env)).code).toBe(0);
    expect((await runCli(['users', 'list'], t.env)).stdout).toBe('alice@example.test  (aliases: al@example.test)\nbob@example.test\n');
    expect((await runCli(['users', 'remove', 'bob@example.test'], t.env)).code).toBe(0);
    expect((await runCli(['users', 'list'], t.env)).stdout).toBe('alice@example.test  (aliases: al@example.test)\n');
  });

  it('refuses an alias that belongs to another user', async () => {
    await runCli(['users', 'add', 'carol@example.test'], t.env);
    const r = await runCli(['users', 'alias', 'carol@example.test', 'al@example.test'], t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('crgate: al@example.test already belongs to another user\n');
  });

  it('refuses a malformed address', async () => {
    const r = await runCli(['users', 'add', 'not-an-address'], t.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"not-an-address" is not a mail address');
  });

  it('refuses to start on a bad value, naming the variable, before opening any socket', async () => {
    const lmtpPort = await freePort();
    const r = await runCli(['start'], { ...t.env, CRGATE_LMTP_LISTEN: `127.0.0.1:${lmtpPort}`, CRGATE_PUBLIC_URL: 'not a url' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('CRGATE_PUBLIC_URL (publicUrl): not a URL: "not a url"');
    await expect(
      new Promise((resolve, reject) => net.connect(lmtpPort, '127.0.0.1').on('connect', resolve).on('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses a challenge address that does not match the site', async () => {
    const r = await runCli(['start'], { ...t.env, CRGATE_PUBLIC_URL: 'https://cr.example.org', CRGATE_CHALLENGE_FROM: 'x@evil.test' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/CRGATE_CHALLENGE_FROM \(challenge\.from\): domain "evil\.test" must be/);
  });

  it('reports a configuration file that is not JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-cfg-'));
    writeFileSync(join(dir, 'c.json'), '{ nope');
    const r = await runCli(['config'], { ...t.env, CRGATE_CONFIG: join(dir, 'c.json') });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/CRGATE_CONFIG: .*c\.json is not valid JSON/);
  });

  it('refuses an unknown role', async () => {
    const r = await runCli(['start', '--role', 'mailer'], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('unknown role "mailer"');
  });

  it('refuses a bad challenge template file at start, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-tpl-'));
    writeFileSync(join(dir, 'challenge.hbs'), 'Click {{link}} or http://elsewhere.example/');
    const r = await runCli(['start', '--role', 'worker'], { ...t.env, CRGATE_CHALLENGE_TEMPLATE: join(dir, 'challenge.hbs') });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/CRGATE_CHALLENGE_TEMPLATE \(challenge\.templateFile\): the template .*challenge\.hbs is unusable: challenge body must contain exactly one URL/);
  });
});
