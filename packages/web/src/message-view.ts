/**
 * Turns a held message into what its page shows: the main headers, the text part, the attachments
 * (listed, never served), and the HTML part sanitised for a sandboxed frame.
 *
 * Trusts nothing in the message. The HTML goes through sanitize-html with a short list of formatting
 * tags: no scripts, styles sheets, forms, frames, embeds or event attributes. Images keep only inline
 * `data:` pictures (mailparser turns `cid:` parts into those); remote images are dropped, so opening a
 * message tells the sender nothing. Every link is rewritten to the site's "leave" page, which shows
 * where it goes before anything is opened. The frame page adds its own CSP and sandbox on top.
 */
import sanitizeHtml from 'sanitize-html';
import { simpleParser, type AddressObject } from 'mailparser';
import { isAddress } from '@crgate/core';

export interface ViewAttachment {
  filename: string;
  contentType: string;
  size: number;
  inline: boolean;
}

export interface ViewMessage {
  headers: Array<{ name: string; value: string }>;
  text: string;
  hasHtml: boolean;
  attachments: ViewAttachment[];
  /** The header block as received, for "all headers". */
  rawHeaders: string;
}

const MAX_RAW_HEADERS = 64 * 1024;
/**
 * The most of a held message its page reads and parses. Past it the page says the rest is not shown:
 * parsing all of a 50 MB message for a page cost ~0.5 s of CPU and ~250 MB in the web role (measured).
 */
export const MAX_VIEW_BYTES = 8 * 1024 * 1024;
/** HTML larger than this is not converted to text (html-to-text is the slow part of parsing). */
const MAX_HTML_TO_TEXT = 2 * 1024 * 1024;

function addressText(a: AddressObject | AddressObject[] | undefined): string {
  if (!a) return '';
  return (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', ');
}

function headerBlock(raw: Buffer): string {
  const head = raw.subarray(0, MAX_RAW_HEADERS * 2);
  let end = head.indexOf('\r\n\r\n');
  if (end < 0) end = head.indexOf('\n\n');
  const block = head.subarray(0, end < 0 ? Math.min(head.length, MAX_RAW_HEADERS) : Math.min(end, MAX_RAW_HEADERS));
  return block.toString('utf8').replace(/\r\n/g, '\n');
}

export async function parseForView(raw: Buffer): Promise<ViewMessage> {
  const parsed = await simpleParser(raw, { skipTextToHtml: true, maxHtmlLengthToParse: MAX_HTML_TO_TEXT });
  const headers: Array<{ name: string; value: string }> = [];
  const add = (name: string, value: string | undefined) => {
    if (value) headers.push({ name, value });
  };
  add('From', addressText(parsed.from));
  add('To', addressText(parsed.to));
  add('Cc', addressText(parsed.cc));
  add('Reply-To', addressText(parsed.replyTo));
  add('Subject', parsed.subject);
  add('Date', parsed.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date.toUTCString() : undefined);
  add('Message-ID', parsed.messageId);
  return {
    headers,
    text: parsed.text ?? '',
    hasHtml: typeof parsed.html === 'string' && parsed.html.length > 0,
    attachments: parsed.attachments.map((a) => ({
      filename: a.filename ?? '(no name)',
      contentType: a.contentType,
      size: a.size,
      inline: a.related === true || a.contentDisposition === 'inline',
    })),
    rawHeaders: headerBlock(raw),
  };
}

/** Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), and the marks LRM, RLM and ALM. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

/**
 * Shows each bidi control character as a visible marker such as "⟨U+202E⟩". In an attachment name,
 * a right-to-left override makes "invoice\u202Efdp.exe" read "invoiceexe.pdf"; marked, the name
 * reads as what it is. (The pages also wrap every string from a message in <bdi>, so nothing spills
 * into the text around it.)
 */
export function showBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

const SAFE_IMAGE = /^data:image\/(png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]+$/i;
const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

/**
 * The addresses a mailto: URL writes to, decoded, or undefined unless it names one or more valid
 * addresses. Its path is opaque: `mailto:Your mailbox is full, call +1 800…` parses, spaces and all,
 * and the leave page would show that text, in bold and as the site's own words, as "the address".
 */
export function mailtoAddresses(url: URL): string[] | undefined {
  if (url.protocol !== 'mailto:') return undefined;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return undefined;
  }
  const addresses = path.split(',').map((a) => a.trim());
  return addresses.every((a) => a.length <= 320 && isAddress(a)) ? addresses : undefined;
}

/**
 * The link's target when it is an absolute http or https URL, or a mailto URL naming one or more valid
 * addresses (mailtoAddresses); undefined otherwise.
 */
export function linkTarget(href: string | undefined): URL | undefined {
  if (!href || href.length > 4096) return undefined;
  try {
    const url = new URL(href.trim());
    if (!LINK_SCHEMES.has(url.protocol)) return undefined;
    return url.protocol !== 'mailto:' || mailtoAddresses(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

export interface SanitizedHtml {
  html: string;
  blockedImages: number;
  links: number;
}

/**
 * Sanitises a message's HTML. `leavePage` is the URL of the page that shows a link's target; every
 * usable link points there (`?u=<target>`) and opens in the top window, anything else loses its href.
 */
export function sanitizeMessageHtml(html: string, leavePage: string): SanitizedHtml {
  let blockedImages = 0;
  let links = 0;
  const clean = sanitizeHtml(html, {
    allowedTags: [
      ...sanitizeHtml.defaults.allowedTags.filter((t) => t !== 'style'),
      'img', 'font', 'center', 'u', 's', 'strike', 'small', 'big', 'tt',
    ],
    allowedAttributes: {
      '*': ['style', 'align', 'valign', 'width', 'height', 'bgcolor', 'dir', 'lang', 'title', 'colspan', 'rowspan', 'border', 'cellpadding', 'cellspacing'],
      a: ['href', 'target', 'rel'],
      img: ['src', 'alt'],
      font: ['color', 'size', 'face'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowProtocolRelative: false,
    nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head', 'template', 'iframe', 'object', 'svg', 'math'],
    transformTags: {
      a: (tagName, attribs) => {
        const target = linkTarget(attribs.href);
        const out: Record<string, string> = {};
        if (attribs.title) out.title = attribs.title;
        if (target) {
          links++;
          out.href = `${leavePage}?u=${encodeURIComponent(target.href)}`;
          out.target = '_top';
          out.rel = 'noopener noreferrer';
        }
        return { tagName, attribs: out };
      },
      img: (tagName, attribs) => {
        if (!attribs.src || !SAFE_IMAGE.test(attribs.src)) {
          // A remote picture becomes words in its place: loading it would tell the sender the mail was opened.
          blockedImages++;
          return { tagName: 'span', attribs: {}, text: attribs.alt ? `[image: ${attribs.alt}]` : '[image not loaded]' };
        }
        const out: Record<string, string> = { src: attribs.src };
        if (attribs.alt) out.alt = attribs.alt;
        return { tagName, attribs: out };
      },
    },
  });
  return { html: clean, blockedImages, links };
}

/**
 * The most tags (counted as `<` characters) of an HTML part the frame shows. The parser under
 * sanitize-html (htmlparser2) keeps its open elements with `Array.unshift`, so n unclosed nested tags
 * cost time in n²: a held message of 300,000 `<div>` (1.5 MB) took 20 s of CPU for its frame, during
 * which the process answered nothing else (the web role, and the ingest and worker beside it), and
 * 8 MB would take minutes. 20,000 tags, nested or not, take ~0.2 s; a large newsletter has a few thousand.
 */
export const MAX_FRAME_TAGS = 20_000;

function tagsOver(html: string, max: number): boolean {
  let count = 0;
  for (let i = html.indexOf('<'); i >= 0; i = html.indexOf('<', i + 1)) {
    if (++count > max) return true;
  }
  return false;
}

function frameDocument(body: string): string {
  return (
    '<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">' +
    '<style>body{font:15px/1.45 system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:.75rem;overflow-wrap:anywhere}' +
    'img{max-width:100%;height:auto}table{max-width:100%}</style></head><body>' +
    body +
    '</body></html>'
  );
}

/**
 * The HTML part of the message, sanitised, as a complete document for the frame; over MAX_FRAME_TAGS,
 * a document that says it is not shown.
 */
export async function htmlDocumentForView(raw: Buffer, leavePage: string): Promise<SanitizedHtml | undefined> {
  const parsed = await simpleParser(raw, { skipTextToHtml: true, skipHtmlToText: true });
  if (typeof parsed.html !== 'string' || !parsed.html) return undefined;
  if (tagsOver(parsed.html, MAX_FRAME_TAGS)) {
    const notice = `<p>The HTML version of this message has more than ${MAX_FRAME_TAGS.toLocaleString('en-US')} tags: too many to show here. The message page shows its text version.</p>`;
    return { html: frameDocument(notice), blockedImages: 0, links: 0 };
  }
  const body = sanitizeMessageHtml(parsed.html, leavePage);
  return { ...body, html: frameDocument(body.html) };
}
