/**
 * Reads messages from what operators keep mail in: single files, folders of .eml files, Maildir
 * folders (cur/ and new/) and mbox files (split on their "From " lines). Used by `crgate replay` and
 * the training and import commands. Files are yielded in a stable order.
 */
import type { Dirent } from 'node:fs';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
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

const LF = 0x0a;
const CR = 0x0d;
const FROM_ = Buffer.from('From ');

function isBlankLine(line: Buffer): boolean {
  return (line.length === 1 && line[0] === LF) || (line.length === 2 && line[0] === CR && line[1] === LF);
}

/**
 * Splits an mbox, fed line by line, into messages at separator lines that start the file (after blank
 * lines) or follow a blank line. A message is what lies between its "From " line and the blank line
 * the mbox writer put after it: that line belongs to the mbox, not to the message (Python's mailbox
 * and mutt leave it out too), so the same message read from an mbox, from the same mbox once it has
 * grown, or from a Maildir is the same bytes and trains under one key. mboxrd escapes body lines that
 * begin with "From " as ">From "; one level is undone.
 */
class MboxSplitter {
  private lines: Buffer[] = [];
  private started = false;
  private afterBlank = false;

  /** Takes one line with its line end; returns the message it ends when it is the next separator. */
  line(line: Buffer): Buffer | undefined {
    if (!this.started) {
      // Blank lines some files start with (archives, hand-made files), then the first "From " line.
      if (/^[ \t]*\r?\n$/.test(line.toString('latin1'))) return undefined;
      this.started = true;
      return undefined;
    }
    if (
      this.afterBlank &&
      line[line.length - 1] === LF &&
      line.subarray(0, FROM_.length).equals(FROM_) &&
      SEPARATOR.test(line.toString('latin1'))
    ) {
      this.afterBlank = false;
      return this.take();
    }
    this.afterBlank = isBlankLine(line);
    let quotes = 0;
    while (line[quotes] === 0x3e) quotes++;
    this.lines.push(quotes > 0 && line.subarray(quotes, quotes + FROM_.length).equals(FROM_) ? line.subarray(1) : line);
    return undefined;
  }

  /** The last message, at the end of the file. */
  end(): Buffer | undefined {
    return this.started ? this.take() : undefined;
  }

  private take(): Buffer {
    const lines = this.lines;
    this.lines = [];
    if (lines.length > 1 && isBlankLine(lines[lines.length - 1]!)) lines.pop();
    return Buffer.concat(lines);
  }
}

/** Splits an mbox into messages at separator lines that start the file or follow a blank line. */
export function splitMbox(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const splitter = new MboxSplitter();
  let start = 0;
  for (let nl = data.indexOf(LF, start); start < data.length; nl = data.indexOf(LF, start)) {
    const stop = nl === -1 ? data.length : nl + 1;
    const message = splitter.line(data.subarray(start, stop));
    if (message) out.push(message);
    start = stop;
  }
  const last = splitter.end();
  if (last) out.push(last);
  return out;
}

/**
 * The messages of an mbox file, read a megabyte at a time: an mbox of years of mail is larger than
 * memory allows, or than the longest string V8 makes (512 MiB), so it is never read whole.
 */
async function* streamMbox(path: string | Buffer): AsyncGenerator<Buffer> {
  const splitter = new MboxSplitter();
  let pending: Buffer[] = [];
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const done: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(LF); nl !== -1; nl = chunk.indexOf(LF, start)) {
      const piece = chunk.subarray(start, nl + 1);
      const line = pending.length ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      const message = splitter.line(line);
      if (message) done.push(message);
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
    yield* done;
  }
  if (pending.length) {
    const message = splitter.line(Buffer.concat(pending));
    if (message) yield message;
  }
  const last = splitter.end();
  if (last) yield last;
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
  const cannotRead = (err: unknown) => new MailSourceError(`cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  let head: Buffer;
  try {
    const file = await open(path);
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(4096), 0, 4096, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    throw cannotRead(err);
  }
  if (!looksLikeMail(head)) {
    skipped(shown, head.length === 0 ? 'empty file' : 'not a mail message (no header at its start)');
    return;
  }
  const text = head.toString('latin1');
  if (!text.startsWith('From ', leadingBlankLines(text))) {
    try {
      yield { file: shown, raw: await readFile(path) };
    } catch (err) {
      throw cannotRead(err);
    }
    return;
  }
  // One leading "From " line on a single message is common (SpamAssassin corpus); an mbox has several.
  // Either way the message is read as an mbox message (without its "From " line, its ">From " lines
  // unquoted), so that an mbox of one message yields the same bytes as when it has grown to two. The
  // first is held until a second shows whether it is named `file` or `file:1`.
  let first: Buffer | undefined;
  let n = 0;
  const messages = streamMbox(path);
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await messages.next();
      } catch (err) {
        throw cannotRead(err);
      }
      if (next.done) break;
      if (++n === 1) {
        first = next.value;
        continue;
      }
      if (first) yield { file: `${shown}:1`, raw: first };
      first = undefined;
      yield { file: `${shown}:${n}`, raw: next.value };
    }
  } finally {
    // A reader that stops early (a failed training) closes the file now, not when it is collected.
    await messages.return(undefined);
  }
  if (first) yield { file: shown, raw: first };
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
