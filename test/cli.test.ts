/**
 * The `crgate` command as an operator meets it: help, user management, and refusing to start on bad
 * configuration — naming the key and the reason, exiting non-zero, before any socket opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { CLI, runCli } from './helpers/engine-process.js';
import { runDeployScript } from './helpers/mail-stack.js';
import { isSenderOptedOut, setSenderOptOut } from '@crgate/store';

/** runCli, but a command still running after `ms` is killed (code null): a hang fails the test, not the run. */
function runCliWithin(ms: number, args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; elapsedMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, elapsedMs: Date.now() - started });
    });
  });
}

// Each test runs several `crgate` processes, each starting Node and loading the engine: on a busy
// machine that alone can pass the default 60 s.
describe('crgate command', { timeout: 180_000 }, () => {
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
    const json = (await runCli(['users', 'list', '--json'], t.env)).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(json.map((u) => [u.address, u.aliases, u.challenges, u.language])).toEqual([
      ['alice@example.test', ['al@example.test'], true, 'en'],
      ['bob@example.test', [], true, 'en'],
    ]);
    expect((await runCli(['users', 'remove', 'bob@example.test'], t.env)).code).toBe(0);
    expect((await runCli(['users', 'list'], t.env)).stdout).toBe('alice@example.test  (aliases: al@example.test)\n');
  });

  it('does not create a missing database for a command that reads: it names the database and exits 69', async () => {
    const url = new URL(t.env.DATABASE_URL!);
    const missing = `${url.pathname.slice(1)}_typo`;
    url.pathname = `/${missing}`;
    const r = await runCli(['users', 'list'], { ...t.env, DATABASE_URL: url.toString() });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(`(DATABASE_URL): database "${missing}" does not exist`);
    expect(r.stdout).toBe('');
    expect((await t.db.query('SELECT 1 FROM pg_database WHERE datname = $1', [missing])).rows).toEqual([]);
  });

  it('refuses a database that a newer crgate migrated, naming the migrations it does not know', async () => {
    await t.db.query(`INSERT INTO schema_migrations (name) VALUES ('999_from_a_newer_version.sql')`);
    try {
      const r = await runCli(['users', 'list'], t.env);
      expect(r.code).toBe(69);
      expect(r.stderr).toContain('the database was migrated by a newer crgate (999_from_a_newer_version.sql unknown to this version)');
      expect(r.stdout).toBe('');
    } finally {
      await t.db.query(`DELETE FROM schema_migrations WHERE name = '999_from_a_newer_version.sql'`);
    }
  });

  it('names PostgreSQL and DATABASE_URL, password hidden, when PostgreSQL cannot be reached', async () => {
    const port = await freePort();
    const r = await runCli(['lists', 'show', '--as', 'alice@example.test'], { ...t.env, DATABASE_URL: `postgres://crgate:s3cret@127.0.0.1:${port}/crgate` });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(`cannot use PostgreSQL at postgres://crgate:***@127.0.0.1:${port}/crgate (DATABASE_URL): `);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).not.toContain('s3cret');
  });

  it('names PostgreSQL and DATABASE_URL, password hidden, when start cannot reach it', async () => {
    const port = await freePort();
    const r = await runCli(['start', '--role', 'web'], { ...t.env, CRGATE_OPS_LISTEN: 'off', DATABASE_URL: `postgres://crgate:s3cret@127.0.0.1:${port}/crgate` });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`cannot start: cannot use PostgreSQL at postgres://crgate:***@127.0.0.1:${port}/crgate (DATABASE_URL): `);
    expect(r.stdout + r.stderr).not.toContain('s3cret');
  });

  it('keeps the Postfix recipient map when crgate cannot list the users, or lists none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-map-'));
    const map = join(dir, 'crgate-recipients');
    writeFileSync(map, 'alice@example.test alice@example.test\n');
    const url = new URL(t.env.DATABASE_URL!);
    url.pathname = `${url.pathname}_typo`;
    const crgate = `${process.execPath} ${CLI}`;
    const unreachable = await runDeployScript('postfix/crgate-recipients.sh', [map], { ...t.env, DATABASE_URL: url.toString(), CRGATE: crgate });
    expect(unreachable.code).not.toBe(0);
    const none = await runDeployScript('postfix/crgate-recipients.sh', [map], { ...t.env, CRGATE: 'true' });
    expect(none.code).toBe(1);
    expect(none.output).toContain('crgate lists no users');
    expect(readFileSync(map, 'utf8')).toBe('alice@example.test alice@example.test\n');
    expect(existsSync(`${map}.new`)).toBe(false);
  });

  it('sets and removes a password read from standard input, never from the command line', async () => {
    const set = await runCli(['users', 'passwd', 'alice@example.test'], t.env, 'correct horse battery\n');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('password set for alice@example.test\n');
    const { rows } = await t.db.query(`SELECT password_hash FROM users WHERE address = 'alice@example.test'`);
    expect(rows[0].password_hash).toMatch(/^scrypt\$/);
    expect(rows[0].password_hash).not.toContain('correct horse');
    const short = await runCli(['users', 'passwd', 'alice@example.test'], t.env, 'short\n');
    expect(short.code).toBe(1);
    const removed = await runCli(['users', 'passwd', '--remove', 'alice@example.test'], t.env);
    expect(removed.stdout).toBe('removed the password of alice@example.test\n');
  });

  it('grants and revokes the admin flag, shown by list --json and not in the plain list', async () => {
    expect((await runCli(['users', 'add', '--admin', 'ops@example.test'], t.env)).stdout).toBe('added ops@example.test\n');
    expect((await runCli(['users', 'admin', 'alice@example.test'], t.env)).stdout).toBe('alice@example.test is an admin\n');
    const admins = async () =>
      (await runCli(['users', 'list', '--json'], t.env)).stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((u) => u.admin).map((u) => u.address);
    expect(await admins()).toEqual(['alice@example.test', 'ops@example.test']);
    expect((await runCli(['users', 'admin', '--off', 'al@example.test'], t.env)).stdout).toBe('al@example.test is no longer an admin\n');
    expect(await admins()).toEqual(['ops@example.test']);
    expect((await runCli(['users', 'list'], t.env)).stdout).not.toContain('admin');
    const unknown = await runCli(['users', 'admin', 'nobody@example.test'], t.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('crgate: no user nobody@example.test\n');
    await runCli(['users', 'remove', 'ops@example.test'], t.env);
  });

  it('refuses an alias that belongs to another user', async () => {
    await runCli(['users', 'add', 'carol@example.test'], t.env);
    const r = await runCli(['users', 'alias', 'carol@example.test', 'al@example.test'], t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('crgate: al@example.test already belongs to another user\n');
  });

  it('does not remove a user given by an alias, and says whose alias it is', async () => {
    const r = await runCli(['users', 'remove', 'Al@example.test'], t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'crgate: al@example.test is an alias of alice@example.test, not a user. `crgate users remove alice@example.test` removes that user with all their aliases; no command removes an alias alone\n',
    );
    expect((await runCli(['users', 'list'], t.env)).stdout).toContain('alice@example.test  (aliases: al@example.test)');
  });

  it('does not report another user\'s alias as an existing user, nor a +tag of the user as an alias added', async () => {
    const r = await runCli(['users', 'add', 'al@example.test', 'dave@example.test'], t.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('added dave@example.test\n');
    expect(r.stderr).toBe('crgate: al@example.test is an alias of alice@example.test, not added\n');
    const tag = await runCli(['users', 'alias', 'alice@example.test', 'Alice+news@example.test'], t.env);
    expect(tag.code).toBe(0);
    expect(tag.stdout).toBe('Alice+news@example.test is alice@example.test itself (crgate ignores letter case and +tags): no alias added\n');
    expect((await runCli(['users', 'list'], t.env)).stdout).toContain('alice@example.test  (aliases: al@example.test)\n');
    await runCli(['users', 'remove', 'dave@example.test'], t.env);
  });

  it('removes a user\'s classifier model with the user, and no other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-model-'));
    writeFileSync(join(dir, 'ham.eml'), readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url)));
    await runCli(['users', 'add', 'erin@example.test', 'frank@example.test'], t.env);
    expect((await runCli(['train', '--as', 'erin@example.test', '--ham', dir], t.env)).code).toBe(0);
    expect((await runCli(['train', '--as', 'frank@example.test', '--ham', dir], t.env)).code).toBe(0);
    const erin = (await t.db.query(`SELECT id FROM users WHERE address = 'erin@example.test'`)).rows[0].id;
    const scopes = async () => {
      const { rows } = await t.db.query(
        `SELECT u.address, (SELECT count(*) FROM classifier_tokens WHERE scope = u.id)::int AS tokens,
                (SELECT count(*) FROM classifier_totals WHERE scope = u.id)::int AS totals,
                (SELECT count(*) FROM classifier_trained WHERE scope = u.id)::int AS trained
           FROM (SELECT id, address FROM users UNION ALL SELECT $1::bigint, 'erin (removed)') u
          WHERE u.address IN ('frank@example.test', 'erin (removed)')`,
        [erin],
      );
      return rows;
    };
    const before = await scopes();
    expect(before.every((r) => r.tokens > 0 && r.totals === 1 && r.trained === 1)).toBe(true);
    expect((await runCli(['users', 'remove', 'erin@example.test'], t.env)).code).toBe(0);
    const after = await scopes();
    expect(after.find((r) => r.address === 'erin (removed)')).toMatchObject({ tokens: 0, totals: 0, trained: 0 });
    expect(after.find((r) => r.address === 'frank@example.test')).toEqual(before.find((r) => r.address === 'frank@example.test'));
    await runCli(['users', 'remove', 'frank@example.test'], t.env);
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

  it('refuses a drain timeout that is not a number of seconds, rather than waiting for ever', async () => {
    const r = await runCli(['queue', 'drain', '--timeout', 'abc'], t.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"abc" is not a number of seconds');
  });

  it('refuses an unknown role', async () => {
    const r = await runCli(['start', '--role', 'mailer'], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('unknown role "mailer"');
  });

  it('manages a whitelist and blacklist and round-trips them through CSV', async () => {
    expect((await runCli(['lists', 'add', '--as', 'alice@example.test', 'white', 'Carol@C.test', '@friends.test'], t.env)).code).toBe(0);
    expect((await runCli(['lists', 'add', '--as', 'alice@example.test', 'black', 'spam.test'], t.env)).code).toBe(0);
    const shown = await runCli(['lists', 'show', '--as', 'alice@example.test', '--json'], t.env);
    expect(shown.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((e) => [e.list, e.kind, e.value, e.source])).toEqual([
      ['black', 'domain', 'spam.test', 'manual'],
      ['white', 'address', 'carol@c.test', 'manual'],
      ['white', 'domain', 'friends.test', 'manual'],
    ]);
    const exported = await runCli(['lists', 'export', '--as', 'alice@example.test'], t.env);
    expect(exported.stdout.split('\r\n')[0]).toBe('list,kind,value,source,created_at');
    const dir = mkdtempSync(join(tmpdir(), 'crgate-csv-'));
    writeFileSync(join(dir, 'lists.csv'), exported.stdout);
    expect((await runCli(['lists', 'import', '--as', 'carol@example.test', join(dir, 'lists.csv')], t.env)).stdout).toBe('imported 3 entries for carol@example.test: 3 new\n');
    const carol = await runCli(['lists', 'show', '--as', 'carol@example.test', '--json'], t.env);
    expect(carol.stdout.trim().split('\n').map((l) => JSON.parse(l).source)).toEqual(['import', 'import', 'import']);
    const removed = await runCli(['lists', 'remove', '--as', 'alice@example.test', 'white', 'friends.test'], t.env);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('removed 1 entry from the whitelist of alice@example.test\n');
    const missing = await runCli(['lists', 'remove', '--as', 'alice@example.test', 'white', 'friends.test'], t.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('friends.test is not on the whitelist');
  });

  it('lists add takes the entry off the other list, and says so', async () => {
    await runCli(['lists', 'add', '--as', 'alice@example.test', 'black', 'turncoat@x.test'], t.env);
    const r = await runCli(['lists', 'add', '--as', 'alice@example.test', 'white', 'Turncoat@X.test'], t.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('turncoat@x.test moved from the blacklist');
    const { rows } = await t.db.query(`SELECT list FROM list_entries WHERE value = 'turncoat@x.test'`);
    expect(rows).toEqual([{ list: 'white' }]);
  });

  it('lists import takes an imported entry off the other list, and says so', async () => {
    await runCli(['lists', 'add', '--as', 'alice@example.test', 'white', 'fickle@x.test'], t.env);
    const dir = mkdtempSync(join(tmpdir(), 'crgate-csv-'));
    writeFileSync(join(dir, 'black.csv'), 'black,Fickle@X.test\nblack,other@x.test\n');
    const r = await runCli(['lists', 'import', '--as', 'alice@example.test', join(dir, 'black.csv')], t.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('imported 2 entries for alice@example.test: 2 new, 1 of them moved from the other list\n');
    const { rows } = await t.db.query(`SELECT list, source FROM list_entries WHERE value = 'fickle@x.test'`);
    expect(rows).toEqual([{ list: 'black', source: 'import' }]);
  });

  it('lists the senders who asked never to be challenged, and undoes it for one', async () => {
    await setSenderOptOut(t.db, 'Pressed.By+Mistake@remote.test', true);
    await setSenderOptOut(t.db, 'meant-it@remote.test', true);
    const listed = await runCli(['senders', 'opted-out', '--json'], t.env);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n').map((l) => JSON.parse(l).address).sort()).toEqual(['meant-it@remote.test', 'pressed.by@remote.test']);
    const undone = await runCli(['senders', 'allow-challenges', 'pressed.by@remote.test'], t.env);
    expect(undone.code).toBe(0);
    expect(undone.stdout).toBe('pressed.by@remote.test may be challenged again\n');
    expect(await isSenderOptedOut(t.db, 'pressed.by@remote.test')).toBe(false);
    expect(await isSenderOptedOut(t.db, 'meant-it@remote.test')).toBe(true);
    const again = await runCli(['senders', 'allow-challenges', 'pressed.by@remote.test'], t.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pressed.by@remote.test had not asked never to be challenged');
  });

  it('refuses a CSV line that names no list, and counts blank lines in the line it names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-csv-'));
    writeFileSync(join(dir, 'bad.csv'), 'white,ok@x.test\n\n\ngrey,bad@x.test\n');
    const r = await runCli(['lists', 'import', '--as', 'alice@example.test', join(dir, 'bad.csv')], t.env);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/bad\.csv line 4: no list \(white or black\) or no address or domain; nothing imported/);
  });

  it('removes no list entry when any entry given is malformed', async () => {
    await runCli(['lists', 'add', '--as', 'alice@example.test', 'white', 'keep.test'], t.env);
    const r = await runCli(['lists', 'remove', '--as', 'alice@example.test', 'white', 'keep.test', 'bad!!'], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('"bad!!" is neither an address nor a domain');
    const { rows } = await t.db.query(`SELECT value FROM list_entries WHERE value = 'keep.test'`);
    expect(rows).toEqual([{ value: 'keep.test' }]);
  });

  it('refuses an unknown list in export before writing anything', async () => {
    const r = await runCli(['lists', 'export', '--as', 'alice@example.test', '--list', 'grey'], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('list must be "white" or "black", not "grey"');
    expect(r.stdout).toBe('');
  });

  it('imports nothing from a CSV file of more than 10,000 entries, and names the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-csv-'));
    const rows = Array.from({ length: 10_001 }, (_, i) => `white,u${i}@bulk.test\n`).join('');
    writeFileSync(join(dir, 'big.csv'), `list,value\n${rows}`);
    const r = await runCli(['lists', 'import', '--as', 'alice@example.test', join(dir, 'big.csv')], t.env);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/big\.csv has more than 10,000 entries, the most one import takes; nothing imported/);
    expect(r.stdout).toBe('');
    expect((await t.db.query(`SELECT count(*)::int AS n FROM list_entries WHERE value LIKE '%@bulk.test'`)).rows).toEqual([{ n: 0 }]);
  });

  it('imports nothing from a CSV file that is not UTF-8, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-csv-'));
    writeFileSync(join(dir, 'latin1.csv'), Buffer.from('list,value\nwhite,m\xfcller@latin.test\nwhite,zoe@latin.test\n', 'latin1'));
    const r = await runCli(['lists', 'import', '--as', 'alice@example.test', join(dir, 'latin1.csv')], t.env);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/latin1\.csv is not UTF-8 text; nothing imported/);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM list_entries WHERE value LIKE '%@latin.test'`)).rows).toEqual([{ n: 0 }]);
  });

  it('checks the configuration with config check and names a bad key', async () => {
    const ok = await runCli(['config', 'check', '--json'], { ...t.env, DATABASE_URL: 'postgres://u:hunter2@db:5432/x' });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain('hunter2');
    expect(JSON.parse(ok.stdout).databaseUrl).toBe('postgres://u:***@db:5432/x');
    const bad = await runCli(['config', 'check'], { ...t.env, CRGATE_CLASSIFIER_HAM_CUTOFF: '0.95' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('classifier.hamCutoff');
  });

  it('hides passwords given as URL query parameters in config check', async () => {
    const r = await runCli(['config', 'check'], {
      ...t.env,
      DATABASE_URL: 'postgres://u@db:5432/x?sslmode=require&password=hunter2&sslpassword=keyphrase9',
      REDIS_URL: 'redis://db:6379/0?password=redispass7',
    });
    expect(r.code).toBe(0);
    for (const secret of ['hunter2', 'keyphrase9', 'redispass7']) expect(r.stdout).not.toContain(secret);
    expect(r.stdout).toContain('postgres://u@db:5432/x?sslmode=require&password=***&sslpassword=***');
  });

  it('config check names the variables that are set, not every variable it knows', async () => {
    const r = await runCli(['config', 'check'], { ...t.env, CRGATE_CLASSIFIER_SPAM_CUTOFF: '0.95' });
    expect(r.code).toBe(0);
    const summary = r.stdout.split('\n').find((l) => l.startsWith('configuration is valid.'))!;
    expect(summary).toContain('CRGATE_CLASSIFIER_SPAM_CUTOFF');
    expect(summary).toContain('DATABASE_URL');
    expect(summary).not.toContain('CRGATE_CLASSIFIER_HAM_CUTOFF');
  });

  it('config check does not list an empty variable as set, since an empty variable counts as unset', async () => {
    const r = await runCli(['config', 'check'], { ...t.env, CRGATE_SECRET: '', CRGATE_CLASSIFIER_SPAM_CUTOFF: '0.95' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.slice(0, r.stdout.indexOf('\n}\n') + 2)).secret).toBe('(not set: generated once and stored in the database)');
    const summary = r.stdout.split('\n').find((l) => l.startsWith('configuration is valid.'))!;
    expect(summary).toContain('CRGATE_CLASSIFIER_SPAM_CUTOFF');
    expect(summary).not.toContain('CRGATE_SECRET');
    expect(r.stdout).toContain('Empty, so not set: CRGATE_SECRET\n');
  });

  it('reports decisions and queues as JSON', async () => {
    const stats = await runCli(['stats', '--since', '1h', '--json'], t.env);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ decisions: {}, reasons: {}, challenges: {} });
    const queues = await runCli(['queue', 'status', '--json'], t.env);
    expect(queues.code).toBe(0);
    expect(JSON.parse(queues.stdout)).toMatchObject({ outbox: 0, queues: { challenges: { waiting: 0 }, deliveries: { failed: 0 } } });
    expect((await runCli(['stats', '--since', 'yesterday-ish'], t.env)).code).toBe(64);
  });

  it('gives up on unreachable Redis Sentinels with exit 69 instead of waiting for ever', async () => {
    const closed = await freePort();
    for (const command of [['queue', 'status'], ['queue', 'retry'], ['queue', 'drain']]) {
      const r = await runCliWithin(20_000, command, { ...t.env, CRGATE_REDIS_SENTINELS: `127.0.0.1:${closed}` });
      expect(r.code, `${command.join(' ')}: ${r.stderr}`).toBe(69);
      expect(r.elapsedMs).toBeLessThan(10_000);
      expect(r.stderr).toContain('cannot reach Redis through the Sentinels (CRGATE_REDIS_SENTINELS)');
    }
  });

  it('takes --since as a period or an ISO date', async () => {
    for (const since of ['90m', '24h', '7d', '2026-01-31', '2026-01-31T08:00Z', '2026-01-31T08:00:00.000+02:00']) {
      const r = await runCli(['stats', '--since', since, '--json'], t.env);
      expect(r.code, `${since}: ${r.stderr}`).toBe(0);
    }
  });

  it('refuses a --since that is neither a period nor an ISO date, such as a bare number', async () => {
    for (const since of ['12', '2026-02-30', '7 days', 'yesterday']) {
      const r = await runCli(['stats', '--since', since], t.env);
      expect(r.code, since).toBe(64);
      expect(r.stderr).toBe(`crgate: --since: "${since}" is neither a period (90m, 24h, 7d) nor an ISO date (2026-01-31, 2026-01-31T08:00Z)\n`);
    }
  });

  it('refuses a --since period that reaches back past any date', async () => {
    const r = await runCli(['stats', '--since', '99999999999d'], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe('crgate: --since: "99999999999d" is too long a period\n');
  });

  it('refuses a page folder that does not exist at start, naming it, rather than showing built-in pages', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'crgate-views-')), 'veiws');
    // Killed if it starts after all (code null), rather than running for ever.
    const r = await runCliWithin(30_000, ['start', '--role', 'web'], { ...t.env, CRGATE_WEB_LISTEN: '127.0.0.1:0', CRGATE_OPS_LISTEN: 'off', CRGATE_WEB_VIEWS: missing });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`CRGATE_WEB_VIEWS (web.viewsDir): ${missing}: cannot read it: ENOENT`);
  });

  it('refuses a bad challenge template file at start, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-tpl-'));
    writeFileSync(join(dir, 'challenge.hbs'), 'Click {{link}} or http://elsewhere.example/');
    const r = await runCli(['start', '--role', 'worker'], { ...t.env, CRGATE_CHALLENGE_TEMPLATE: join(dir, 'challenge.hbs') });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/CRGATE_CHALLENGE_TEMPLATE \(challenge\.templateFile\): the template .*challenge\.hbs is unusable: challenge body must contain exactly one URL/);
  });
});
