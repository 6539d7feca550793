// `npm run build` (run by prepack): the package's dist/ from scratch: the
// TypeScript compiled with declarations (tsconfig.build.json), the data files
// the code reads beside itself at run time, and the page bundle
// (dist/web/bundle/, which the installed package serves as is).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from '../web/build.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** Folders of non-code files that code finds next to itself (via import.meta.url), copied to the same place in dist/. */
export const RUNTIME_ASSETS = ['guest-images/keys'];

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('build: tsc failed');
  process.exit(1);
}
for (const folder of RUNTIME_ASSETS) {
  if (existsSync(join(root, folder))) cpSync(join(root, folder), join(dist, folder), { recursive: true });
}
const { files, ms } = await buildWeb({ outDir: join(dist, 'web', 'bundle') });
console.log(`build: dist/ compiled; page bundled (${files.length} files) in ${ms.toFixed(0)} ms`);
