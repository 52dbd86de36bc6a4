#!/usr/bin/env node
// The `crgate` command. A committed shim, so npm links it at install time, before the build exists.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `crgate: needs Node.js 24 or later, this is ${process.versions.node}. Run it through npm (npx crgate, npm start), which uses the Node.js 24 that npm ci installed, or put node_modules/.bin first on PATH.\n`,
  );
  process.exit(1);
}

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('crgate: not built yet; run `npm run build` in the crgate checkout first\n');
  process.exit(1);
}
await import(main.href);
