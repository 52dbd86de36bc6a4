/**
 * Page templates (handlebars, HTML-escaped by default). Operators may override any page by putting a
 * file of the same name in CRGATE_WEB_VIEWS; the built-in ones live in ../views. A page rendered with
 * `lang` (the recipient's language) uses `<name>.<lang>.hbs` when there is one, so the sender of a
 * German-speaking recipient reads the confirmation page in German.
 */
import Handlebars from 'handlebars';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { ConfigError } from '@crgate/core';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILTIN_VIEWS = fileURLToPath(new URL('../views/', import.meta.url));

export type Render = (view: string, ctx: Record<string, unknown>) => string;

export function createRenderer(overrideDir?: string): Render {
  // Pages are read when first used, and a page missing from the folder is the built-in one: a folder
  // that is not there (a typo) would otherwise go unnoticed, every page built-in. Checked at start.
  if (overrideDir !== undefined) {
    let isDir = false;
    let why = 'not a directory';
    try {
      isDir = statSync(overrideDir).isDirectory();
    } catch (err) {
      why = `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    if (!isDir) throw new ConfigError([`CRGATE_WEB_VIEWS (web.viewsDir): ${overrideDir}: ${why}`]);
  }
  // An instance of our own, so helpers registered here do not leak into other users of handlebars.
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const cache = new Map<string, Handlebars.TemplateDelegate>();
  const find = (name: string): string | undefined => {
    const override = overrideDir ? join(overrideDir, `${name}.hbs`) : undefined;
    if (override && existsSync(override)) return override;
    const builtin = join(BUILTIN_VIEWS, `${name}.hbs`);
    return existsSync(builtin) ? builtin : undefined;
  };
  const load = (name: string, lang?: string) => {
    const key = `${name}\0${lang ?? ''}`;
    let t = cache.get(key);
    if (!t) {
      const file = (lang && lang !== 'en' ? find(`${name}.${lang}`) : undefined) ?? find(name);
      if (!file) throw new Error(`no page template ${name}`);
      t = hb.compile(readFileSync(file, 'utf8'), { strict: false });
      cache.set(key, t);
    }
    return t;
  };
  return (view, ctx) => {
    const body = load(view, typeof ctx.lang === 'string' ? ctx.lang : undefined)(ctx);
    return load('layout')({ ...ctx, body, lang: ctx.lang ?? 'en' });
  };
}
