/**
 * The recipient's whitelist and blacklist: entries with their source and date, adding and removing
 * entries, and CSV import and export. Every store call carries the session's user id.
 */
import { Router, type Request, type Response } from 'express';
import busboy from 'busboy';
import { csvLine, importFileText, importRows, listName, MAX_IMPORT_ROWS, parseListValue, type ListName } from '@crgate/core';
import { addUserListEntry, importListEntries, removeListEntries, userListEntries } from '@crgate/store';
import { checkSessionCsrf, field, fieldList, formatDate, page, query, requireUser, signedIn, type SiteDeps } from './site-context.js';

const MAX_UPLOAD = 1024 * 1024;

const SOURCE_WORDS: Record<string, string> = {
  confirmed: 'confirmed a challenge',
  outgoing: 'you wrote to them',
  manual: 'added by you',
  import: 'imported',
};

interface Upload {
  fields: Record<string, string>;
  file?: Buffer;
  tooBig: boolean;
}

function readUpload(req: Request): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: MAX_UPLOAD, files: 1, fields: 10, fieldSize: 1000, parts: 12 } });
    } catch (err) {
      return reject(err);
    }
    const upload: Upload = { fields: {}, tooBig: false };
    bb.on('field', (name, value) => {
      upload.fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      // A body cut off mid-file errors on the file stream, not only on busboy: unheard, it would end
      // the process, and with it the ingest and worker running beside the site.
      stream.on('error', reject);
      if (name !== 'file') return stream.resume();
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        upload.tooBig = true;
      });
      stream.on('end', () => {
        upload.file = Buffer.concat(chunks);
      });
    });
    bb.on('close', () => resolve(upload));
    bb.on('error', reject);
    req.pipe(bb);
  });
}

export function listsRoutes(deps: SiteDeps): Router {
  const router = Router();
  const log = deps.logger;
  router.use('/lists', requireUser(deps));
  const userId = (res: Response) => signedIn(res)!.session.userId;

  async function show(res: Response, status: number, extra: Record<string, unknown> = {}): Promise<void> {
    const entries = await userListEntries(deps.db, userId(res));
    const view = (list: ListName) =>
      entries
        .filter((e) => e.list === list)
        .map((e) => ({ id: e.id, value: e.value, kind: e.kind === 'domain' ? 'domain' : 'address', source: SOURCE_WORDS[e.source] ?? e.source, date: formatDate(e.createdAt) }));
    res.status(status).send(
      page(deps, res, 'lists', {
        title: 'Your lists',
        section: 'lists',
        wide: true,
        csrf: signedIn(res)!.session.csrfToken,
        lists: [
          { key: 'white', title: 'Whitelist', lower: 'whitelist', entries: view('white') },
          { key: 'black', title: 'Blacklist', lower: 'blacklist', entries: view('black') },
        ],
        ...extra,
      }),
    );
  }

  router.get('/lists', async (req, res) => {
    const count = (name: string) => {
      const parsed = Number(query(req, name) ?? 0);
      return Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : 0;
    };
    const n = count('n');
    const moved = count('moved');
    // A Map, not an object literal: `done` comes from the URL, and `constructor` is no message.
    const messages = new Map([
      ['added', 'Entry added.'],
      ['present', 'That entry was already on the list.'],
      ['moved-white', 'Entry added to your whitelist, and moved from your blacklist.'],
      ['moved-black', 'Entry added to your blacklist, and moved from your whitelist.'],
      ['removed', `${n} entr${n === 1 ? 'y' : 'ies'} removed.`],
      ['imported', `${n} new entr${n === 1 ? 'y' : 'ies'} imported${moved ? ` (${moved} of them moved from your other list)` : ''}.`],
    ]);
    await show(res, 200, { flash: messages.get(query(req, 'done') ?? '') });
  });

  router.post('/lists/add', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const list = listName(field(req, 'list'));
    const parsed = parseListValue(field(req, 'value') ?? '');
    if (!list || !parsed) {
      return show(res, 400, { error: 'Enter a mail address (bob@example.org) or a domain (example.org).', value: field(req, 'value'), addList: list });
    }
    const { added, moved } = await addUserListEntry(deps.db, userId(res), { list, ...parsed, source: 'manual' });
    log.info({ event: 'web.lists_changed', userId: userId(res), change: 'add', list, moved }, 'list entry added');
    // Taken off the other list: say so, since the entry disappears from there.
    const done = moved ? `moved-${list}` : added ? 'added' : 'present';
    res.redirect(303, `${deps.basePath}/lists?done=${done}`);
  });

  router.post('/lists/remove', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const ids = fieldList(req, 'ids').filter((v) => /^\d{1,15}$/.test(v)).map(Number);
    const removed = await removeListEntries(deps.db, userId(res), ids.slice(0, 1000));
    log.info({ event: 'web.lists_changed', userId: userId(res), change: 'remove', entries: removed }, 'list entries removed');
    res.redirect(303, `${deps.basePath}/lists?done=removed&n=${removed}`);
  });

  router.post('/lists/import', async (req, res) => {
    let upload: Upload;
    try {
      upload = await readUpload(req);
    } catch {
      return show(res, 400, { importError: 'Choose a CSV file to import.' });
    }
    if (!checkSessionCsrf(deps, req, res, upload.fields._csrf)) return;
    if (upload.tooBig) return show(res, 413, { importError: `The file is larger than ${MAX_UPLOAD / 1024} KB.` });
    if (!upload.file?.length) return show(res, 400, { importError: 'Choose a CSV file to import.' });
    const text = importFileText(upload.file);
    if (text === undefined) {
      return show(res, 400, { importError: 'Nothing was imported: the file is not UTF-8 text. Save it as CSV in UTF-8 and try again.' });
    }
    const { entries, bad, tooMany } = importRows(text, listName(upload.fields.list) ?? 'white');
    if (tooMany) {
      return show(res, 400, {
        importError: `Nothing was imported: the file has more than ${MAX_IMPORT_ROWS.toLocaleString('en')} entries, the most one import takes. Split it into smaller files.`,
      });
    }
    if (bad.length) {
      const lines = bad.slice(0, 5).join(', ') + (bad.length > 5 ? ', …' : '');
      return show(res, 400, { importError: `Nothing was imported: line(s) ${lines} hold no address or domain, or no list (white or black).` });
    }
    const { added, moved } = await importListEntries(deps.db, userId(res), entries);
    log.info({ event: 'web.lists_changed', userId: userId(res), change: 'import', entries: added, moved }, 'list entries imported');
    res.redirect(303, `${deps.basePath}/lists?done=imported&n=${added}&moved=${moved}`);
  });

  router.get('/lists/export.csv', async (_req, res) => {
    const entries = await userListEntries(deps.db, userId(res));
    const body =
      csvLine(['list', 'kind', 'value', 'source', 'created_at']) +
      entries.map((e) => csvLine([e.list, e.kind, e.value, e.source, e.createdAt.toISOString()])).join('');
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': 'attachment; filename="crgate-lists.csv"' });
    res.send(body);
  });

  return router;
}
