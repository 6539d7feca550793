// Bundles the browser lab with esbuild's JS API into web/dist/ (git-ignored):
// app.js (page), vm-worker.js (one per VM), index.html, styles.css, xterm.css.
// v86.wasm is not copied: the server maps /v86/ onto node_modules/v86/build.
import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));
export const ROOT_DIR = join(WEB_DIR, '..');
export const DIST_DIR = join(WEB_DIR, 'dist');
const require = createRequire(import.meta.url);

/** Folders whose sources end up in the bundle. */
const SOURCE_DIRS = ['web', 'emulator', 'host'].map((d) => join(ROOT_DIR, d));
const STATIC_FILES = ['index.html', 'styles.css'];

/**
 * The shared emulator code was written for Node first: the few Node modules it
 * imports get browser stand-ins; the ones v86 only loads under Node stay
 * external (never reached in a browser).
 */
const browserShims: Plugin = {
  name: 'vmswitch-browser-shims',
  setup(b) {
    b.onResolve({ filter: /^node:module$/ }, () => ({ path: join(WEB_DIR, 'worker/shims/node-module.ts') }));
    b.onResolve({ filter: /^node:perf_hooks$/ }, () => ({ path: join(WEB_DIR, 'worker/shims/perf-hooks.ts') }));
    b.onResolve({ filter: /^(node:)?(fs|fs\/promises|crypto|perf_hooks)$/ }, (args) => ({ path: args.path, external: true }));
  },
};

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestMtime(path));
    else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

/** Why the bundle must be (re)built, or undefined when it is current. */
export async function bundleStaleReason(): Promise<string | undefined> {
  const outputs = ['app.js', 'vm-worker.js', 'xterm.css', ...STATIC_FILES].map((f) => join(DIST_DIR, f));
  let oldest = Infinity;
  for (const output of outputs) {
    const info = await stat(output).catch(() => null);
    if (!info) return `${output.slice(ROOT_DIR.length + 1)} is missing`;
    oldest = Math.min(oldest, info.mtimeMs);
  }
  let newest = 0;
  for (const dir of SOURCE_DIRS) newest = Math.max(newest, await newestMtime(dir));
  return newest > oldest ? 'sources changed since the last build' : undefined;
}

export interface BuildResult {
  files: { path: string; bytes: number }[];
  ms: number;
}

export async function buildWeb(options: { minify?: boolean } = {}): Promise<BuildResult> {
  const started = performance.now();
  await mkdir(DIST_DIR, { recursive: true });
  const result = await build({
    entryPoints: { app: join(WEB_DIR, 'app/main.ts'), 'vm-worker': join(WEB_DIR, 'worker/vm-worker.ts') },
    outdir: DIST_DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Lazy imports inside the worker (NIC models, adapter) stay in one file: a worker loads one script.
    splitting: false,
    minify: options.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    plugins: [browserShims],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  await copyFile(require.resolve('@xterm/xterm/css/xterm.css'), join(DIST_DIR, 'xterm.css'));
  for (const file of STATIC_FILES) await copyFile(join(WEB_DIR, file), join(DIST_DIR, file));
  const files = Object.entries(result.metafile.outputs)
    .filter(([path]) => !path.endsWith('.map'))
    .map(([path, output]) => ({ path, bytes: output.bytes }));
  return { files, ms: performance.now() - started };
}

// `node --import tsx web/build.ts`: build once and list the outputs.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { files, ms } = await buildWeb();
  for (const f of files) console.log(`${f.path}  ${(f.bytes / 1024).toFixed(0)} KiB`);
  console.log(`built in ${ms.toFixed(0)} ms`);
}
