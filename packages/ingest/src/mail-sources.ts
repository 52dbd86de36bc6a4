/**
 * Reads messages from what operators keep mail in: single files, folders of .eml files, Maildir
 * folders (cur/ and new/) and mbox files (split on their "From " lines). Used by `crgate replay` and
 * the training and import commands. Files are yielded in a stable order.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath, isAbsolute } from 'node:path';
import { recordedClient } from './authenticate.js';

export interface SourceMessage {
  /** The file (for an mbox: `file:N`, N counting from 1), absolute when the argument was absolute. */
  file: string;
  raw: Buffer;
}

export class MailSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailSourceError';
  }
}

/**
 * An mbox separator: "From ", the envelope sender, then the date with a time and a year, as mail
 * systems write it ("From MAILER-DAEMON Fri Jul  8 12:08:34 2011"). A paragraph that merely begins
 * with "From the desk of…" is not one.
 */
const SEPARATOR = /^From \S+ +.*\d{1,2}:\d{2}(?::\d{2})?.*\d{4}/;

/** Blank lines some files start with (archives, hand-made files) before the first line. */
function leadingBlankLines(text: string): number {
  const m = /^(?:[ \t]*\r?\n)*/.exec(text);
  return m ? m[0].length : 0;
}

/** Splits an mbox into messages at separator lines that start the file or follow a blank line. */
export function splitMbox(data: Buffer): Buffer[] {
  const text = data.toString('latin1');
  const starts: number[] = [];
  const first = leadingBlankLines(text);
  const re = /(^|\n)From [^\n]*\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const at = m.index + m[1]!.length;
    const line = text.slice(at, text.indexOf('\n', at));
    const before = text.slice(Math.max(0, at - 3), at).replace(/\r/g, '');
    if (at === first ? line.startsWith('From ') : before.endsWith('\n\n') && SEPARATOR.test(line)) starts.push(at);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < starts.length; i++) {
    const from = text.indexOf('\n', starts[i]!) + 1;
    const to = i + 1 < starts.length ? starts[i + 1]! : data.length;
    // The blank line an mbox writer puts after each message belongs to the mbox, not to the message
    // (Python's mailbox and mutt leave it out too): with it, the same message read from an mbox and
    // from a Maildir, or from an mbox before and after it grew, would differ by a byte and be trained
    // twice under two keys.
    const end = /\n\r?\n$/.test(text.slice(Math.max(from, to - 3), to)) ? text.lastIndexOf('\n', to - 2) + 1 : to;
    // mboxrd escapes body lines that begin with "From " as ">From "; undo one level.
    out.push(Buffer.from(text.slice(from, Math.max(from, end)).replace(/^>(>*From )/gm, '$1'), 'latin1'));
  }
  return out;
}

/**
 * Whether a file can be mail at all: its first line (after blank ones) is an mbox "From " line or a
 * header field. Empty files, binary junk and notes lying in a mail folder are not.
 */
function looksLikeMail(data: Buffer): boolean {
  const head = data.subarray(0, 4096).toString('latin1');
  const line = head.slice(leadingBlankLines(head)).split('\n', 1)[0] ?? '';
  return line.startsWith('From ') || /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(line);
}

/** Reports a file that is left out, and why (the commands print it on stderr). */
export type SkipReporter = (file: string, why: string) => void;

async function* fromFile(path: string | Buffer, shown: string, skipped: SkipReporter): AsyncGenerator<SourceMessage> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new MailSourceError(`cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!looksLikeMail(data)) {
    skipped(shown, data.length === 0 ? 'empty file' : 'not a mail message (no header at its start)');
    return;
  }
  // One leading "From " line on a single message is common (SpamAssassin corpus); an mbox has several.
  // Either way the message is read as an mbox message (without its "From " line, its ">From " lines
  // unquoted), so that an mbox of one message yields the same bytes as when it has grown to two.
  const head = data.toString('latin1', 0, 4096);
  const parts = head.startsWith('From ', leadingBlankLines(head)) ? splitMbox(data) : [data];
  if (parts.length > 1) {
    let n = 0;
    for (const raw of parts) yield { file: `${shown}:${++n}`, raw };
  } else {
    yield { file: shown, raw: parts[0]! };
  }
}

/** Names of files in mail folders that are the folder's own bookkeeping, not messages. */
const NOT_MAIL = /^(?:\.|dovecot|maildirfolder$|courierimap|subscriptions$)|\.msf$/i;

/**
 * A folder's entries in name order. Names are read as bytes: a file whose name is not UTF-8 (an old
 * archive's "Entw\xfcrfe" in Latin-1) must still be opened by its own name, not by a decoded one with
 * U+FFFD in it, which names no file. `path` is the folder's own name in bytes, for the same reason.
 */
async function entriesOf(path: Buffer): Promise<Array<{ name: string; path: Buffer; entry: Dirent<Buffer> }>> {
  const dirents = await readdir(path, { withFileTypes: true, encoding: 'buffer' });
  const entries = dirents.map((entry) => ({ name: entry.name.toString(), path: Buffer.concat([path, SLASH, entry.name]), entry }));
  return entries.sort((a, b) => a.name.localeCompare(b.name) || Buffer.compare(a.entry.name, b.entry.name));
}

const SLASH = Buffer.from('/');

async function* fromDirectory(path: Buffer, shown: string, skipped: SkipReporter): AsyncGenerator<SourceMessage> {
  const names = new Set((await entriesOf(path)).map((e) => e.name));
  // A Maildir has cur/ and new/ (tmp/ holds nothing finished); either may be missing in a copy.
  if (names.has('cur') || names.has('new')) {
    for (const sub of ['new', 'cur'].filter((d) => names.has(d))) yield* filesIn(Buffer.concat([path, SLASH, Buffer.from(sub)]), join(shown, sub), skipped, false);
    return;
  }
  yield* filesIn(path, shown, skipped, true);
}

/**
 * The messages in one folder: every file but the folder's bookkeeping, in name order; files a symbolic
 * link points to are read (links to folders are not followed, so no loop can form); sub-folders too
 * when `recurse`.
 */
async function* filesIn(path: Buffer, shown: string, skipped: SkipReporter, recurse: boolean): AsyncGenerator<SourceMessage> {
  for (const { name, path: full, entry: e } of await entriesOf(path)) {
    if (NOT_MAIL.test(name)) continue;
    if (e.isDirectory()) {
      if (recurse) yield* fromDirectory(full, join(shown, name), skipped);
    } else if (e.isFile()) {
      yield* fromFile(full, join(shown, name), skipped);
    } else if (e.isSymbolicLink()) {
      const target = await stat(full).catch(() => undefined);
      if (!target) skipped(join(shown, name), 'a link to nothing');
      else if (target.isFile()) yield* fromFile(full, join(shown, name), skipped);
      else skipped(join(shown, name), 'a link to a folder (not followed)');
    }
  }
}

/**
 * Every message under the given paths. A file that cannot be read, or a path that holds no message at
 * all, is an error (MailSourceError); files that are not mail are left out and reported to `skipped`.
 */
export async function* readMailSources(paths: string[], skipped: SkipReporter = () => undefined): AsyncGenerator<SourceMessage> {
  for (const p of paths) {
    const abs = resolvePath(p);
    const shown = isAbsolute(p) ? abs : p;
    let info;
    try {
      info = await stat(abs);
    } catch (err) {
      throw new MailSourceError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let found = 0;
    for await (const m of info.isDirectory() ? fromDirectory(Buffer.from(abs), shown, skipped) : fromFile(abs, shown, skipped)) {
      found++;
      yield m;
    }
    if (found === 0) throw new MailSourceError(`no mail found in ${p}`);
  }
}

/**
 * The envelope a stored message most likely came with, for `crgate replay` and `eval`: its sender
 * (envelopeSenderOf) and the client its MTA recorded (recordedClient).
 */
export function storedEnvelopeOf(headers: ReadonlyMap<string, readonly string[]>): { mailFrom: string; clientAddress?: string; clientHelo?: string } {
  return { mailFrom: envelopeSenderOf(headers), ...recordedClient(headers) };
}

/**
 * The envelope sender a stored message most likely had: Return-Path, else From. Without control
 * characters, which no MTA passes in MAIL FROM (smtp-server refuses them with 501).
 */
export function envelopeSenderOf(headers: ReadonlyMap<string, readonly string[]>): string {
  const rp = headers.get('return-path')?.[0];
  let sender: string;
  if (rp !== undefined) {
    const m = /<([^>]*)>/.exec(rp);
    sender = m ? m[1]! : rp;
  } else {
    const from = headers.get('from')?.[0] ?? '';
    const m = /<([^>]+@[^>]+)>/.exec(from) ?? /([^\s<>"]+@[^\s<>"]+)/.exec(from);
    sender = m ? m[1]! : '';
  }
  return sender.replace(/[\x00-\x1f\x7f]/g, '').trim();
}
