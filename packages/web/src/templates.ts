/**
 * Page templates (handlebars, HTML-escaped by default). Operators may override any page by putting a
 * file of the same name in CRGATE_WEB_VIEWS; the built-in ones live in ../views.
 */
import Handlebars from 'handlebars';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILTIN_VIEWS = fileURLToPath(new URL('../views/', import.meta.url));

export type Render = (view: string, ctx: Record<string, unknown>) => string;

export function createRenderer(overrideDir?: string): Render {
  // An instance of our own, so helpers registered here do not leak into other users of handlebars.
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const cache = new Map<string, Handlebars.TemplateDelegate>();
  const load = (name: string) => {
    let t = cache.get(name);
    if (!t) {
      const override = overrideDir ? join(overrideDir, `${name}.hbs`) : undefined;
      const file = override && existsSync(override) ? override : join(BUILTIN_VIEWS, `${name}.hbs`);
      t = hb.compile(readFileSync(file, 'utf8'), { strict: false });
      cache.set(name, t);
    }
    return t;
  };
  return (view, ctx) => {
    const body = load(view)(ctx);
    return load('layout')({ ...ctx, body, lang: ctx.lang ?? 'en' });
  };
}
