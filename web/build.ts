// Bundles the browser lab with esbuild's JS API: app.js (page), vm-worker.js
// (one per VM), index.html, styles.css, xterm.css. v86.wasm is not copied: the
// server maps /v86/ onto node_modules/v86/build.
// Where the bundle lives: the package ships one, made at pack time
// (`npm run build` -> dist/web/bundle/); a checkout bundles on demand into the
// user's cache (one folder per checkout), never into its own tree.
import type { Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../guest-images/paths.ts';

export const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));
export const ROOT_DIR = join(WEB_DIR, '..');
/** The bundle shipped in the package (dist/web/bundle/); absent in a checkout. */
export const PREBUILT_DIR = join(WEB_DIR, 'bundle');
const require = createRequire(import.meta.url);

/** A checkout's bundle: in the cache, keyed by the checkout's folder so that two checkouts do not overwrite each other's. */
export function cacheBundleDir(env: NodeJS.ProcessEnv = process.env): string {
  const checkout = createHash('sha256').update(ROOT_DIR).digest('hex').slice(0, 16);
  return join(cacheDir(env), 'web', checkout);
}

/** Folders whose sources end up in the bundle. */
const SOURCE_DIRS = ['web', 'emulator', 'host'].map((d) => join(ROOT_DIR, d));
const STATIC_FILES = ['index.html', 'styles.css'];
/** Every file the page needs from the bundle folder. */
export const BUNDLE_FILES = ['app.js', 'vm-worker.js', 'xterm.css', ...STATIC_FILES];

/** The bundle shipped with the package, when this is the package and it has one. */
export function prebuiltBundle(): string | undefined {
  return BUNDLE_FILES.every((file) => existsSync(join(PREBUILT_DIR, file))) ? PREBUILT_DIR : undefined;
}

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

/**
 * host/lab's default launch loads Node's VM runtimes dynamically (worker
 * threads, the image cache); the page's Lab passes its own launch
 * (emulator/worker/browser-launch.ts), so those imports stay external and are
 * never reached in a browser.
 */
const nodeOnlyLaunches: Plugin = {
  name: 'vmswitch-node-only-launches',
  setup(b) {
    b.onResolve({ filter: /(worker\/node-launch|emulator\/vm|emulator\/default-mac)\.ts$/ }, (args) =>
      args.importer.endsWith(join('host', 'lab', 'guest.ts')) ? { path: args.path, external: true } : undefined,
    );
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
export async function bundleStaleReason(outDir = cacheBundleDir()): Promise<string | undefined> {
  let oldest = Infinity;
  for (const file of BUNDLE_FILES) {
    const info = await stat(join(outDir, file)).catch(() => null);
    if (!info) return `${file} is missing`;
    oldest = Math.min(oldest, info.mtimeMs);
  }
  let newest = 0;
  for (const dir of SOURCE_DIRS) newest = Math.max(newest, await newestMtime(dir));
  return newest > oldest ? 'sources changed since the last build' : undefined;
}

export interface BuildResult {
  /** `inputs`: the source files bundled into it (paths as esbuild gives them, relative to the working directory). */
  files: { path: string; bytes: number; inputs: string[] }[];
  ms: number;
}

export async function buildWeb(options: { minify?: boolean; outDir?: string } = {}): Promise<BuildResult> {
  const started = performance.now();
  const outDir = options.outDir ?? cacheBundleDir();
  await mkdir(outDir, { recursive: true });
  // esbuild is a devDependency: the package never bundles (it ships the bundle), so it loads esbuild only here.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { app: join(WEB_DIR, 'app/main.ts'), 'vm-worker': join(WEB_DIR, 'worker/vm-worker.ts') },
    outdir: outDir,
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
    plugins: [browserShims, nodeOnlyLaunches],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  await copyFile(require.resolve('@xterm/xterm/css/xterm.css'), join(outDir, 'xterm.css'));
  for (const file of STATIC_FILES) await copyFile(join(WEB_DIR, file), join(outDir, file));
  const files = Object.entries(result.metafile.outputs)
    .filter(([path]) => !path.endsWith('.map'))
    .map(([path, output]) => ({ path, bytes: output.bytes, inputs: Object.keys(output.inputs) }));
  return { files, ms: performance.now() - started };
}

/**
 * The folder to serve the page from: the package's prebuilt bundle, else a
 * checkout's bundle in the cache, (re)built when missing or stale.
 */
export async function ensureBundle(log: (line: string) => void, rebuild = false): Promise<string> {
  const prebuilt = prebuiltBundle();
  // The package ships no page sources to bundle again.
  if (prebuilt) {
    if (rebuild) log('this package ships its page bundle: nothing to rebuild');
    return prebuilt;
  }
  if (!existsSync(join(WEB_DIR, 'app', 'main.ts'))) {
    throw new Error(`no page bundle in ${PREBUILT_DIR} and no sources to make one (build the package with 'npm run build')`);
  }
  const outDir = cacheBundleDir();
  const stale = rebuild ? 'rebuild requested' : await bundleStaleReason(outDir);
  if (stale) {
    log(`bundling the page (${stale}) ...`);
    const { files, ms } = await buildWeb({ outDir });
    log(`bundled ${files.map((f) => `${f.path.split('/').pop()} ${(f.bytes / 1024).toFixed(0)} KiB`).join(', ')} in ${ms.toFixed(0)} ms`);
  }
  return outDir;
}

// `node --import tsx web/build.ts [OUTDIR]`: build once and list the outputs
// (`npm run build` passes dist/web/bundle, the package's prebuilt bundle).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2];
  const { files, ms } = await buildWeb(outDir ? { outDir } : {});
  for (const f of files) console.log(`${f.path}  ${(f.bytes / 1024).toFixed(0)} KiB`);
  console.log(`built in ${ms.toFixed(0)} ms`);
}
