/**
 * Reading the mail operators keep — folders, Maildirs, mbox files — for `crgate train`, `replay`,
 * `eval` and `import-sent`: every message is read once, what is not mail is named and left out, and a
 * path with no mail at all, or a file that cannot be read, is an error rather than a run over nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryTokenStore } from '@crgate/classifier';
import { MailSourceError, readMailSources, splitMbox } from '@crgate/ingest';
import { trainFolders } from '../packages/cli/src/train.js';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { CLI, runCli } from './helpers/engine-process.js';

const note = (n: number) => `From: bob${n}@remote.test\r\nTo: alice@example.test\r\nSubject: note ${n}\r\n\r\nHello ${n}.\r\n`;

async function read(paths: string[]): Promise<{ files: string[]; skipped: string[] }> {
  const files: string[] = [];
  const skipped: string[] = [];
  for await (const m of readMailSources(paths, (file, why) => skipped.push(`${file}: ${why}`))) files.push(m.file);
  return { files, skipped };
}

describe('mail sources', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'crgate-sources-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('splits an mbox only at separator lines, not at a paragraph that begins with "From "', () => {
    const mbox = Buffer.from(
      `From bob@remote.test Fri Jul  8 12:08:34 2011\n${note(1)}\nFrom the desk of the editor: a paragraph.\n\n` +
        `From carol@remote.test  Sat Jul  9 08:00:00 2011\n${note(2)}`,
    );
    const messages = splitMbox(mbox).map((m) => m.toString());
    expect(messages).toHaveLength(2);
    expect(messages[0]).toContain('From the desk of the editor');
  });

  it('reads an mbox that starts with a blank line as the messages it holds', async () => {
    const file = join(dir, 'leading-blank.mbox');
    writeFileSync(file, `\nFrom bob@remote.test Fri Jul  8 12:08:34 2011\n${note(1)}\nFrom carol@remote.test Sat Jul  9 08:00:00 2011\n${note(2)}`);
    expect((await read([file])).files).toEqual([`${file}:1`, `${file}:2`]);
  });

  it('reads every file of a folder whatever its name, and names the files that are not mail', async () => {
    const folder = join(dir, 'mixed');
    mkdirSync(folder);
    writeFileSync(join(folder, '00001.7c53336b37003a9286aba55d2945844c'), note(1));
    writeFileSync(join(folder, 'Inbox'), note(2));
    writeFileSync(join(folder, 'empty.eml'), '');
    writeFileSync(join(folder, 'junk.eml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    writeFileSync(join(folder, '.hidden.eml'), note(3));
    symlinkSync(join(folder, 'Inbox'), join(folder, 'link.eml'));
    symlinkSync(join(folder, 'gone.eml'), join(folder, 'dangling.eml'));
    const { files, skipped } = await read([folder]);
    expect(files.map((f) => f.slice(folder.length + 1))).toEqual(['00001.7c53336b37003a9286aba55d2945844c', 'Inbox', 'link.eml']);
    expect(skipped.map((s) => s.slice(folder.length + 1)).sort()).toEqual([
      'dangling.eml: a link to nothing',
      'empty.eml: empty file',
      'junk.eml: not a mail message (no header at its start)',
    ]);
  });

  it('reads a Maildir that has cur/ but no new/', async () => {
    const maildir = join(dir, 'Maildir');
    mkdirSync(join(maildir, 'cur'), { recursive: true });
    writeFileSync(join(maildir, 'cur', '1700000000.M1P1.host:2,S'), note(1));
    expect((await read([maildir])).files).toEqual([join(maildir, 'cur', '1700000000.M1P1.host:2,S')]);
  });

  it('reads a file whose name is not UTF-8, in a folder whose name is not UTF-8 either', async () => {
    // An old archive's "Entwürfe/réponse.eml" written by a Latin-1 system: the names are bytes.
    const folder = join(dir, 'latin1');
    const drafts = Buffer.concat([Buffer.from(`${folder}/Entw`), Buffer.from([0xfc]), Buffer.from('rfe')]);
    mkdirSync(drafts, { recursive: true });
    writeFileSync(Buffer.concat([drafts, Buffer.from('/r'), Buffer.from([0xe9]), Buffer.from('ponse.eml')]), note(1));
    writeFileSync(join(folder, 'plain.eml'), note(2));
    const { files } = await read([folder]);
    expect(files).toEqual([join(folder, 'Entw\ufffdrfe', 'r\ufffdponse.eml'), join(folder, 'plain.eml')]);
  });

  it('trains a message of an mbox once, whether the mbox holds only it or has grown since', async () => {
    // As Python's mailbox.mbox and mutt write an mbox: a "From " line, the message, a blank line.
    const entry = (n: number) => `From MAILER-DAEMON Thu Dec  3 18:04:48 2026\n${note(n).replace(/\r\n/g, '\n')}\n`;
    const spam = join(dir, 'Spam');
    const store = new MemoryTokenStore();
    writeFileSync(spam, entry(1));
    await trainFolders(store, 0, [{ label: 'spam', paths: [spam] }]);
    writeFileSync(spam, entry(1) + entry(2));
    await trainFolders(store, 0, [{ label: 'spam', paths: [spam] }]);
    expect(await store.totals([0])).toMatchObject({ nspam: 2 });
  });

  it('reads a message from an mbox as the same bytes as its copy in a Maildir', async () => {
    const maildir = join(dir, 'Maildir-copy');
    mkdirSync(join(maildir, 'cur'), { recursive: true });
    const message = `${note(1).replace(/\r\n/g, '\n')}\n>From the archive:\n`;
    writeFileSync(join(maildir, 'cur', '1700000000.M1P1.host:2,S'), message);
    const mbox = join(dir, 'Archive.mbox');
    writeFileSync(mbox, `From bob@remote.test Fri Jul  8 12:08:34 2011\n${message.replace(/^(>*From )/gm, '>$1')}\nFrom carol@remote.test Sat Jul  9 08:00:00 2011\n${note(2)}\n`);
    const raws: string[] = [];
    for await (const m of readMailSources([maildir, mbox])) raws.push(m.raw.toString('latin1'));
    expect(raws[1]).toBe(raws[0]);
  });

  it('reads an mbox larger than the longest string V8 makes (512 MiB) message by message', async () => {
    // Years of mail in one mbox: 520 MiB of 64 KiB messages, written as an mbox writer does.
    const mbox = join(dir, 'Archive-2009-2025.mbox');
    const body = `${'lorem ipsum dolor sit amet '.repeat(2400)}\n`;
    const block = Buffer.from(
      Array.from({ length: 16 }, (_, i) => `From bob@remote.test Fri Jul  8 12:08:34 2011\nSubject: part ${i}\n\n${body}\n`).join(''),
    );
    const blocks = Math.ceil((520 * 2 ** 20) / block.length);
    const fd = openSync(mbox, 'w');
    for (let i = 0; i < blocks; i++) writeSync(fd, block);
    closeSync(fd);
    let count = 0;
    let last = '';
    for await (const m of readMailSources([mbox])) {
      count++;
      last = m.file;
      if (m.raw.length !== `Subject: part ${(count - 1) % 16}\n\n${body}`.length) throw new Error(`${m.file} has ${m.raw.length} bytes`);
    }
    rmSync(mbox);
    expect(count).toBe(blocks * 16);
    expect(last).toBe(`${mbox}:${blocks * 16}`);
  });

  it('refuses a path that holds no mail at all', async () => {
    const empty = join(dir, 'nothing');
    mkdirSync(empty);
    await expect(read([empty])).rejects.toThrow(new MailSourceError(`no mail found in ${empty}`));
  });

  it('lets the messages already being trained finish before a read error ends the training', async () => {
    const folder = join(dir, 'train');
    mkdirSync(folder);
    for (let i = 0; i < 6; i++) writeFileSync(join(folder, `${i}.eml`), note(i));
    let finished = 0;
    class SlowStore extends MemoryTokenStore {
      override async train(...args: Parameters<MemoryTokenStore['train']>): Promise<boolean> {
        await new Promise((r) => setTimeout(r, 50));
        const changed = await super.train(...args);
        finished++;
        return changed;
      }
    }
    const failure = trainFolders(new SlowStore(), 0, [{ label: 'ham', paths: [folder, join(dir, 'missing')] }]);
    await expect(failure).rejects.toBeInstanceOf(MailSourceError);
    expect(finished).toBe(6);
  });
});

describe('crgate replay over odd files', () => {
  let t: TestEnvironment;
  let dir: string;

  beforeAll(async () => {
    t = await createTestEnvironment();
    dir = mkdtempSync(join(tmpdir(), 'crgate-replay-odd-'));
  });

  afterAll(async () => {
    await t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('decides a message whose Return-Path holds a NUL byte, one JSON line for each message', async () => {
    writeFileSync(join(dir, '1.eml'), `Return-Path: <b\u0000ob@remote.test>\r\n${note(1)}`);
    writeFileSync(join(dir, '2.eml'), note(2));
    const r = await runCli(['replay', '--json', '--as', 'alice@example.test', dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; decision: string });
    expect(lines.map((l) => l.file)).toEqual([join(dir, '1.eml'), join(dir, '2.eml')]);
  });

  it('fails with the reason, naming the path, when a path holds no mail', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = await runCli(['replay', '--json', '--as', 'alice@example.test', empty], t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`crgate: no mail found in ${empty}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

/** What a terminal shows for what was written to it: carriage returns overwrite, ESC [K erases to the end of the line. */
function screen(output: string): string[] {
  const lines: string[] = [''];
  let col = 0;
  for (const part of output.split(/(\x1b\[K|\r|\n)/)) {
    if (part === '\r') col = 0;
    else if (part === '\n') {
      lines.push('');
      col = 0;
    } else if (part === '\x1b[K') lines[lines.length - 1] = lines[lines.length - 1]!.slice(0, col);
    else if (part) {
      const line = lines[lines.length - 1]!;
      lines[lines.length - 1] = line.slice(0, col) + part + line.slice(col + part.length);
      col += part.length;
    }
  }
  return lines.filter((l) => l !== '');
}

describe('crgate train on a terminal', () => {
  let t: TestEnvironment;
  let dir: string;

  beforeAll(async () => {
    t = await createTestEnvironment();
    dir = mkdtempSync(join(tmpdir(), 'crgate-train-tty-'));
  });

  afterAll(async () => {
    await t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the progress bar and each skipped file on lines of their own, with nothing left of a longer bar', async () => {
    mkdirSync(join(dir, 'ham'));
    mkdirSync(join(dir, 'spam'));
    for (let i = 1; i <= 12; i++) writeFileSync(join(dir, 'ham', `${String(i).padStart(2, '0')}.eml`), note(i));
    writeFileSync(join(dir, 'ham', '05-empty.eml'), '');
    writeFileSync(join(dir, 'spam', '1.eml'), note(100));
    // util-linux script(1) runs the command on a pseudo-terminal, as an operator's shell does.
    const command = [process.execPath, CLI, 'train', '--ham', join(dir, 'ham'), '--spam', join(dir, 'spam')].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...t.env }, encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    const lines = screen(r.stdout);
    expect(lines).toContain(`crgate: skipped ${join(dir, 'ham', '05-empty.eml')}: empty file`);
    expect(lines).toContain(`[${'#'.repeat(30)}] 1/1 spam`);
    expect(lines.at(-1)).toBe('trained 12 ham and 1 spam into the global model');
  });
});
