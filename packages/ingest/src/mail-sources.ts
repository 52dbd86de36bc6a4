/**
 * Reads messages from what operators keep mail in: single files, folders of .eml files, Maildir
 * folders (cur/ and new/) and mbox files (split on their "From " lines). Used by `crgate replay` and
 * the training and import commands. Files are yielded in a stable order.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath, isAbsolute } from 'node:path';

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

/** Splits an mbox into messages at "From " lines that start the file or follow a blank line. */
export function splitMbox(data: Buffer): Buffer[] {
  const text = data.toString('latin1');
  const starts: number[] = [];
  const re = /(^|\n)From [^\n]*\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const at = m.index + m[1]!.length;
    const before = text.slice(Math.max(0, at - 3), at).replace(/\r/g, '');
    if (at === 0 || before.endsWith('\n\n')) starts.push(at);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < starts.length; i++) {
    const from = text.indexOf('\n', starts[i]!) + 1;
    const to = i + 1 < starts.length ? starts[i + 1]! : data.length;
    // mboxrd escapes body lines that begin with "From " as ">From "; undo one level.
    out.push(Buffer.from(text.slice(from, to).replace(/^>(>*From )/gm, '$1'), 'latin1'));
  }
  return out;
}

function isMbox(data: Buffer): boolean {
  if (data.subarray(0, 5).toString('latin1') !== 'From ') return false;
  // One leading "From " line on a single message is common (SpamAssassin corpus); an mbox has several.
  return /\n\r?\nFrom [^\n]*\n/.test(data.toString('latin1'));
}

async function* fromFile(path: string, shown: string): AsyncGenerator<SourceMessage> {
  const data = await readFile(path);
  if (isMbox(data)) {
    let n = 0;
    for (const raw of splitMbox(data)) yield { file: `${shown}:${++n}`, raw };
  } else {
    yield { file: shown, raw: data };
  }
}

async function* fromDirectory(path: string, shown: string): AsyncGenerator<SourceMessage> {
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const names = new Set(entries.map((e) => e.name));
  if (names.has('cur') && names.has('new')) {
    for (const sub of ['new', 'cur']) {
      const files = (await readdir(join(path, sub), { withFileTypes: true })).filter((e) => e.isFile()).sort((a, b) => a.name.localeCompare(b.name));
      for (const f of files) yield* fromFile(join(path, sub, f.name), join(shown, sub, f.name));
    }
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) yield* fromDirectory(join(path, e.name), join(shown, e.name));
    else if (e.isFile() && (/\.(eml|msg|mbox)$/i.test(e.name) || /^\d+(\.\d+)?$/.test(e.name))) yield* fromFile(join(path, e.name), join(shown, e.name));
  }
}

export async function* readMailSources(paths: string[]): AsyncGenerator<SourceMessage> {
  for (const p of paths) {
    const abs = resolvePath(p);
    const shown = isAbsolute(p) ? abs : p;
    let info;
    try {
      info = await stat(abs);
    } catch (err) {
      throw new MailSourceError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (info.isDirectory()) yield* fromDirectory(abs, shown);
    else yield* fromFile(abs, shown);
  }
}

/** The envelope sender a stored message most likely had: Return-Path, else From. */
export function envelopeSenderOf(headers: ReadonlyMap<string, readonly string[]>): string {
  const rp = headers.get('return-path')?.[0];
  if (rp !== undefined) {
    const m = /<([^>]*)>/.exec(rp);
    return (m ? m[1]! : rp).trim();
  }
  const from = headers.get('from')?.[0] ?? '';
  const m = /<([^>]+@[^>]+)>/.exec(from) ?? /([^\s<>"]+@[^\s<>"]+)/.exec(from);
  return m ? m[1]!.trim() : '';
}
