#!/usr/bin/env node
// The `crgate` command. A committed shim, so npm links it at install time, before the build exists.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('crgate: not built yet; run `npm run build` in the crgate checkout first\n');
  process.exit(1);
}
await import(main.href);
