// Bundle the player pages into ../vodflow/web/static/ (served by the API at /static/).
// No CDN links: shaka-player and hls.js come from node_modules and end up in the bundles.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'vodflow', 'web', 'static');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  entryPoints: {
    catalog: join(here, 'src', 'catalog.js'),
    login: join(here, 'src', 'login.js'),
    watch: join(here, 'src', 'watch.js'),
    style: join(here, 'src', 'style.css'),
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  minify: true,
  sourcemap: true,
  target: ['chrome100', 'firefox100', 'safari15'],
  metafile: true,
  logLevel: 'warning',
  legalComments: 'linked',
});

// build-info.json: what the API checks at start-up (the bundle exists and names its inputs' hash).
const hash = createHash('sha256');
for (const f of ['package.json', 'package-lock.json', 'build.mjs', ...readdirSync(join(here, 'src')).sort().map((n) => `src/${n}`)]) {
  hash.update(f);
  hash.update(readFileSync(join(here, f)));
}
const files = Object.keys(result.metafile.outputs).map((p) => p.slice(p.indexOf('static/') + 7));
const info = {
  built_at: new Date().toISOString(),
  inputs_sha256: hash.digest('hex'),
  entries: ['catalog.js', 'login.js', 'watch.js', 'style.css'],
  files,
  bytes: files.reduce((n, f) => n + statSync(join(out, f)).size, 0),
};
writeFileSync(join(out, 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
console.log(`web: ${files.length} files, ${(info.bytes / 1e6).toFixed(2)} MB in ${out}`);
