/**
 * Real SpamAssassin (spamd) and rspamd daemons for tests, each on a free loopback port with a private
 * configuration in a temporary folder: no network rules (there is no internet), no Bayes, nothing
 * shared with another test or the machine's own daemons. Debian's packages `spamd` and `rspamd`;
 * .ci/run installs them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portListening } from './environment.js';

export interface Daemon {
  address: string;
  port: number;
  stop(): Promise<void>;
}

function need(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: install Debian's package ${pkg} (apt-get install -y ${pkg}); .ci/run does`);
}

async function waitForPort(port: number, child: ChildProcess, what: string, log: () => string, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    if (await portListening(port)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms: ${log()}`);
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** spamd with the shipped rules only (no DNS blocklists, no Bayes, no auto-learning). */
export async function startSpamd(): Promise<Daemon> {
  need('/usr/sbin/spamd', 'spamd');
  const dir = mkdtempSync(join(tmpdir(), 'crgate-spamd-'));
  // spamd run as root reads its configuration as `nobody`.
  chmodSync(dir, 0o755);
  // Its own site configuration replaces /etc/spamassassin, so the plugin loaders (.pre) come along.
  for (const f of readdirSync('/etc/spamassassin').filter((f) => f.endsWith('.pre'))) cpSync(join('/etc/spamassassin', f), join(dir, f));
  writeFileSync(join(dir, 'local.cf'), 'use_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n');
  const port = await freePort();
  let out = '';
  const child = spawn('/usr/sbin/spamd', ['-L', '-i', '127.0.0.1', '-A', '127.0.0.1', '-p', String(port), '--siteconfigpath', dir, '-m', '2', '-s', join(dir, 'spamd.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitForPort(port, child, 'spamd', () => out.slice(-2000));
  return { address: `127.0.0.1:${port}`, port, stop: stopper(child, dir) };
}

/** rspamd's normal worker alone, its network-based modules off; answers GTUBE with `reject`. */
export async function startRspamd(): Promise<Daemon> {
  need('/usr/bin/rspamd', 'rspamd');
  const dir = mkdtempSync(join(tmpdir(), 'crgate-rspamd-'));
  const local = join(dir, 'local.d');
  for (const d of ['db', 'run', 'log', 'local.d']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  writeFileSync(join(local, 'worker-normal.inc'), `bind_socket = "127.0.0.1:${port}";\ncount = 1;\n`);
  for (const w of ['worker-controller.inc', 'worker-proxy.inc', 'worker-fuzzy.inc']) writeFileSync(join(local, w), 'enabled = false;\n');
  // No internet: a DNS server that is not there, asked briefly, and the modules that live on DNS off.
  writeFileSync(join(local, 'options.inc'), 'dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }\n');
  writeFileSync(join(local, 'logging.inc'), `type = "file"; filename = "${join(dir, 'log', 'rspamd.log')}"; level = "error";\n`);
  for (const m of ['rbl', 'surbl', 'emails', 'asn', 'dkim', 'dmarc', 'spf', 'phishing', 'fuzzy_check', 'neural', 'ratelimit', 'greylist', 'replies', 'dkim_signing', 'arc', 'url_redirector', 'mx_check', 'history_redis', 'multimap']) {
    writeFileSync(join(local, `${m}.conf`), 'enabled = false;\n');
  }
  const args = ['-f', '-u', 'root', '-g', 'root', '--insecure', '-c', '/etc/rspamd/rspamd.conf', `--var=LOCAL_CONFDIR=${dir}`, `--var=DBDIR=${join(dir, 'db')}`, `--var=RUNDIR=${join(dir, 'run')}`, `--var=LOGDIR=${join(dir, 'log')}`];
  let out = '';
  const child = spawn('/usr/bin/rspamd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitForPort(port, child, 'rspamd', () => out.slice(-2000));
  return { address: `http://127.0.0.1:${port}`, port, stop: stopper(child, dir) };
}

/** SpamAssassin's test pattern: every spam filter calls a message that contains it spam. */
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
