/**
 * A real Postfix and Dovecot around crgate, for the end-to-end test of docs/operators.md. The
 * configuration is the deploy/ templates, filled in by deploy/render.sh as the docs show, plus a small
 * harness (paths in a temporary directory, loopback ports, quick retries) that only a test needs.
 * Everything runs without systemd, as root, on 127.0.0.1; the "Internet" is Postfix's smtp-sink in
 * capture mode. Each daemon is ended by its PID in stop(), and their logs are kept for failure messages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portListening } from './environment.js';
import { sleep } from './sinks.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const DEPLOY = join(REPO, 'deploy');

/** The apt packages the test needs, and the line that installs them (as .ci/run should). */
export const APT_INSTALL =
  'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && ' +
  'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix dovecot-core dovecot-lmtpd swaks libnet-ssleay-perl libio-socket-ssl-perl openssl';

const NEEDED: Array<{ bin: string; pkg: string }> = [
  { bin: 'postfix', pkg: 'postfix' },
  { bin: 'postconf', pkg: 'postfix' },
  { bin: 'smtp-sink', pkg: 'postfix' },
  { bin: 'dovecot', pkg: 'dovecot-core' },
  { bin: 'doveadm', pkg: 'dovecot-core' },
  { bin: 'swaks', pkg: 'swaks' },
  { bin: 'openssl', pkg: 'openssl' },
  { bin: 'perl', pkg: 'perl' },
];

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin'];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

/** Full paths of the daemons and tools, or an error naming what is missing and how to install it. */
export function requireMailBinaries(): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const { bin, pkg } of NEEDED) {
    const path = findBinary(bin);
    if (path) found[bin] = path;
    else missing.push(`${bin} (package ${pkg})`);
  }
  if (!existsSync('/usr/lib/dovecot/lmtp')) missing.push('/usr/lib/dovecot/lmtp (package dovecot-lmtpd)');
  if (!existsSync('/usr/share/postfix/master.cf.dist')) missing.push("/usr/share/postfix/master.cf.dist (Debian's package postfix)");
  if (found.perl && spawnSync(found.perl, ['-MIO::Socket::SSL', '-MNet::SSLeay', '-e1']).status !== 0) {
    missing.push("perl's IO::Socket::SSL and Net::SSLeay, for swaks --tls (packages libio-socket-ssl-perl libnet-ssleay-perl)");
  }
  if (missing.length) {
    throw new Error(`the mail-stack test needs the real daemons; missing: ${missing.join(', ')}.\nInstall them with:\n  ${APT_INSTALL}`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error('the mail-stack test must run as root: Postfix and Dovecot start as root and drop to their own users');
  }
  return found;
}

/** Runs deploy/render.sh on one template with these values, as an operator would. */
export function render(template: string, vars: Record<string, string>): string {
  const r = spawnSync('bash', [join(DEPLOY, 'render.sh'), join(DEPLOY, template)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...vars },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`render.sh ${template} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** KEY=value lines, as in deploy/crgate.env.tmpl. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export interface MailStackPorts {
  smtp: number;
  submission: number;
  challenge: number;
  sink: number;
  dovecotLmtp: number;
  crgateLmtp: number;
}

export interface MailStackOptions {
  ports: MailStackPorts;
  protectedDomain: string;
  tapAddress: string;
  publicUrl: string;
  /** The challenge transport's source address (127.0.0.2 here; ordinary mail leaves from 127.0.0.1). */
  challengeBindAddress: string;
  /** Dovecot logins: address and password. */
  users: Array<{ address: string; password: string }>;
  binaries: Record<string, string>;
}

export interface SinkMessage {
  file: string;
  clientAddr: string;
  helo: string;
  mailFrom: string;
  rcptTo: string;
  /** The message as the sink received it, after its own Received line. */
  text: string;
}

export interface MailStack {
  dir: string;
  vars: Record<string, string>;
  /** The rendered files, by template name. */
  rendered: Record<string, string>;
  /** crgate's side of the wiring, from the rendered crgate.env. */
  crgateEnv: Record<string, string>;
  mailRoot: string;
  sinkDir: string;
  startDaemons(): Promise<void>;
  postfixLog(): string;
  /** The daemons' logs, for failure messages. */
  diagnostics(): string;
  sinkMessages(): SinkMessage[];
  /** Files in the Maildir's new/ and cur/ of one user, contents included. */
  maildir(address: string): Array<{ file: string; text: string }>;
  stop(): Promise<void>;
}

function tail(text: string, lines = 60): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(none)';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to a daemon's process group (its children too), then SIGKILL if it lingers. */
async function endProcessGroup(pid: number | undefined): Promise<void> {
  if (!pid) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 40 && alive(pid); i++) await sleep(50);
  if (alive(pid)) signal('SIGKILL');
}

function parseSinkFile(file: string, raw: string): SinkMessage {
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(raw)?.[1] ?? '';
  return { file, clientAddr: field('X-Client-Addr'), helo: field('X-Helo-Args'), mailFrom: field('X-Mail-Args'), rcptTo: field('X-Rcpt-Args'), text: raw };
}

/**
 * Lays out the configuration in a new temporary directory (nothing is started yet): the deploy
 * templates rendered with the test's values, plus the harness settings.
 */
export function prepareMailStack(o: MailStackOptions): MailStack {
  const dir = mkdtempSync(join(tmpdir(), 'crgate-mail-'));
  // Postfix, Dovecot and smtp-sink drop privileges and must reach their files below this directory.
  chmodSync(dir, 0o755);
  // Postfix's configuration directory apart from its queue: postfix-script wants the former owned by root.
  const pf = join(dir, 'postfix');
  const pfQueue = join(dir, 'postfix-queue');
  const pfData = join(dir, 'postfix-data');
  const logs = join(dir, 'logs');
  const dv = join(dir, 'dovecot');
  const mailRoot = join(dir, 'mail');
  const sinkDir = join(dir, 'sink');
  for (const d of [pf, pfQueue, pfData, logs, dv, mailRoot, sinkDir]) mkdirSync(d, { recursive: true });
  const postfixUser = spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).stdout.trim();
  chownSync(pfData, Number(postfixUser), 0);
  chownSync(mailRoot, 65534, 65534);
  chownSync(sinkDir, 65534, 65534);

  const cert = join(dir, 'tls-cert.pem');
  const key = join(dir, 'tls-key.pem');
  const tls = spawnSync(
    o.binaries.openssl!,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=mx.example.test', '-keyout', key, '-out', cert],
    { encoding: 'utf8' },
  );
  if (tls.status !== 0) throw new Error(`openssl could not make a test certificate: ${tls.stderr}`);

  const vars: Record<string, string> = {
    PROTECTED_DOMAINS: o.protectedDomain,
    INGEST_LMTP: `127.0.0.1:${o.ports.crgateLmtp}`,
    RECIPIENTS_MAP: join(pf, 'crgate-recipients'),
    DOVECOT_AUTH_SOCKET: join(dv, 'auth-postfix'),
    TLS_CERT: cert,
    TLS_KEY: key,
    SMTP_LISTEN: `127.0.0.1:${o.ports.smtp}`,
    SUBMISSION_LISTEN: `127.0.0.1:${o.ports.submission}`,
    CHALLENGE_LISTEN: `127.0.0.1:${o.ports.challenge}`,
    RELAY_CLIENTS: '127.0.0.0/8',
    TAP_ADDRESS: o.tapAddress,
    // In production empty (straight to the sender's MX); here the capture sink plays the Internet.
    CHALLENGE_NEXTHOP: `[127.0.0.1]:${o.ports.sink}`,
    CHALLENGE_BIND_ADDRESS: o.challengeBindAddress,
    CHALLENGE_HELO_NAME: `challenge.${o.protectedDomain}`,
    VMAIL_UID: '65534',
    VMAIL_GID: '65534',
    DOVECOT_USERS_FILE: join(dv, 'users'),
    MAIL_ROOT: mailRoot,
    DOVECOT_LMTP_ADDRESS: '127.0.0.1',
    DOVECOT_LMTP_PORT: String(o.ports.dovecotLmtp),
    PUBLIC_URL: o.publicUrl,
    CRGATE_SECRET: `test-secret-${'x'.repeat(40)}`,
  };
  const rendered: Record<string, string> = {};
  for (const t of ['postfix/main.cf.tmpl', 'postfix/master.cf.tmpl', 'dovecot/crgate.conf.tmpl', 'crgate.env.tmpl']) rendered[t] = render(t, vars);

  // The harness: what a test needs besides the deploy files (paths, loopback, quick retries).
  const harnessMain = [
    '# test harness (not part of deploy/)',
    'compatibility_level = 3.7',
    `queue_directory = ${pfQueue}`,
    `data_directory = ${pfData}`,
    `maillog_file = ${join(logs, 'postfix.log')}`,
    `maillog_file_prefixes = ${logs}`,
    'inet_protocols = ipv4',
    'inet_interfaces = loopback-only',
    `myhostname = mx.${o.protectedDomain}`,
    'mydestination = localhost',
    'alias_maps =',
    'alias_database =',
    // Everything not for the protected domain goes to the capture sink, standing in for the Internet.
    `relayhost = [127.0.0.1]:${o.ports.sink}`,
    'queue_run_delay = 1s',
    'minimal_backoff_time = 1s',
    'maximal_backoff_time = 2s',
    '',
  ].join('\n');
  writeFileSync(join(pf, 'main.cf'), `${harnessMain}\n${rendered['postfix/main.cf.tmpl']}`);
  // As the docs say: Debian's stock master.cf without its "smtp inet" entry, plus the fragment. The
  // harness also turns chroot off everywhere (nothing here is set up for a chroot).
  copyFileSync('/usr/share/postfix/master.cf.dist', join(pf, 'master.cf'));
  for (const args of [['-MX', 'smtp/inet'], ['-F', '*/*/chroot = n']]) {
    const r = spawnSync(o.binaries.postconf!, ['-c', pf, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`postconf ${args.join(' ')} failed: ${r.stderr}`);
  }
  appendFileSync(join(pf, 'master.cf'), `\n${rendered['postfix/master.cf.tmpl']}`);

  const users = o.users
    .map((u) => {
      const hash = spawnSync(o.binaries.doveadm!, ['pw', '-s', 'SHA512-CRYPT', '-p', u.password], { encoding: 'utf8' }).stdout.trim();
      if (!hash.startsWith('{SHA512-CRYPT}')) throw new Error(`doveadm pw failed for ${u.address}`);
      return `${u.address}:${hash}\n`;
    })
    .join('');
  writeFileSync(vars.DOVECOT_USERS_FILE!, users);
  const harnessDovecot = [
    '# test harness (not part of deploy/)',
    `base_dir = ${join(dv, 'run')}`,
    `state_dir = ${join(dv, 'state')}`,
    `log_path = ${join(logs, 'dovecot.log')}`,
    `!include ${join(dv, 'crgate.conf')}`,
    '',
  ].join('\n');
  writeFileSync(join(dv, 'crgate.conf'), rendered['dovecot/crgate.conf.tmpl']!);
  writeFileSync(join(dv, 'dovecot.conf'), harnessDovecot);

  let sink: ChildProcess | undefined;
  let sinkOutput = '';
  let dovecot: ChildProcess | undefined;
  let dovecotOutput = '';
  let postfixPid: number | undefined;
  let postfixStart = '';

  const postfixLog = () => readOr(join(logs, 'postfix.log'));
  const stack: MailStack = {
    dir,
    vars,
    rendered,
    crgateEnv: parseEnvFile(rendered['crgate.env.tmpl']!),
    mailRoot,
    sinkDir,
    async startDaemons() {
      sink = spawn(findBinary('smtp-sink')!, ['-u', 'nobody', '-d', `${sinkDir}/%M.`, `127.0.0.1:${o.ports.sink}`, '64'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      sink.stdout!.on('data', (d) => (sinkOutput += d));
      sink.stderr!.on('data', (d) => (sinkOutput += d));

      // -F: in the foreground, so the PID we hold is Dovecot's master.
      dovecot = spawn(o.binaries.dovecot!, ['-F', '-c', join(dv, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      dovecot.stdout!.on('data', (d) => (dovecotOutput += d));
      dovecot.stderr!.on('data', (d) => (dovecotOutput += d));

      // `postfix start` returns once the master is up (or failed); its PID is then in the pid file.
      const started = await new Promise<{ code: number | null }>((resolve) => {
        const p = spawn(o.binaries.postfix!, ['-c', pf, 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
        p.stdout.on('data', (d) => (postfixStart += d));
        p.stderr.on('data', (d) => (postfixStart += d));
        p.on('exit', (code) => resolve({ code }));
      });
      const pidFile = join(pfQueue, 'pid', 'master.pid');
      if (existsSync(pidFile)) postfixPid = Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
      if (started.code !== 0) throw new Error(`postfix start failed (${started.code}): ${postfixStart}\n${tail(postfixLog())}`);

      // Ready when each one's port answers.
      for (const [what, port] of [
        ['smtp-sink', o.ports.sink],
        ['Dovecot LMTP', o.ports.dovecotLmtp],
        ['Postfix smtpd', o.ports.smtp],
        ['Postfix submission', o.ports.submission],
        ['Postfix challenge listener', o.ports.challenge],
      ] as const) {
        const until = Date.now() + 10_000;
        while (!(await portListening(port))) {
          if (Date.now() > until) throw new Error(`${what} is not listening on 127.0.0.1:${port}\n${stack.diagnostics()}`);
          await sleep(50);
        }
      }
    },
    postfixLog,
    diagnostics() {
      return [
        `--- postfix.log (${join(logs, 'postfix.log')}) ---`,
        tail(postfixLog()),
        postfixStart.trim() ? `--- postfix start ---\n${postfixStart.trim()}` : '',
        `--- dovecot.log ---`,
        tail(readOr(join(logs, 'dovecot.log')) + dovecotOutput),
        `--- smtp-sink ---`,
        tail(sinkOutput || '(no output)'),
      ]
        .filter(Boolean)
        .join('\n');
    },
    sinkMessages() {
      return readdirSync(sinkDir)
        .sort()
        .map((f) => parseSinkFile(f, readFileSync(join(sinkDir, f), 'utf8')));
    },
    maildir(address) {
      const [local, domain] = address.split('@') as [string, string];
      const base = join(mailRoot, domain, local, 'Maildir');
      return ['new', 'cur'].flatMap((sub) => {
        const d = join(base, sub);
        if (!existsSync(d)) return [];
        return readdirSync(d).map((f) => ({ file: join(d, f), text: readFileSync(join(d, f), 'utf8') }));
      });
    },
    async stop() {
      await Promise.all([endProcessGroup(postfixPid), endProcessGroup(dovecot?.pid), endProcessGroup(sink?.pid)]);
      if (process.env.CRGATE_TEST_KEEP_MAIL_STACK) return;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

export interface SwaksResult {
  code: number | null;
  transcript: string;
}

/** Runs swaks (its exit status: 0 sent, 24 no recipient accepted, 23 MAIL refused, 28 AUTH failed). */
export function swaks(args: string[]): Promise<SwaksResult> {
  return new Promise((resolve) => {
    const child = spawn(findBinary('swaks')!, ['--timeout', '20', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let transcript = '';
    child.stdout.on('data', (d) => (transcript += d));
    child.stderr.on('data', (d) => (transcript += d));
    child.on('exit', (code) => resolve({ code, transcript }));
  });
}

/** Runs a deploy script (bash) with this environment; resolves with its exit status and output. */
export function runDeployScript(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(DEPLOY, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
