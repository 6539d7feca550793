// `vmswitch web --export DIR`: the browser lab as plain files, for any static
// file server (a GitHub Pages site, `python3 -m http.server`, nginx): the page
// and its bundle, v86's wasm, the guest image, the template snapshots and a
// lab.json naming them, every URL relative to the page. The layout is the one
// `vmswitch web` serves, so the page does not know which of the two it runs on.
// No special headers are needed: nothing in the lab uses SharedArrayBuffer.
import { createRequire } from 'node:module';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { prepareLab } from './lab-server.ts';
import { IMAGE_URLS } from '../emulator/worker/browser-options.ts';
import { ensureTemplates, listSnapshots, SNAPSHOT_URL_PREFIX, snapshotDir } from './snapshots.ts';

export interface ExportOptions {
  log?: (line: string) => void;
  /** Make the lab's missing template snapshots first (default true); without them VMs boot cold. */
  templates?: boolean;
}

export interface ExportResult {
  dir: string;
  files: { path: string; bytes: number }[];
  /** NIC model list joined with '+' -> relative snapshot URL, as written to lab.json. */
  snapshots: Record<string, string>;
}

/** A folder that is neither empty nor an earlier export is refused: an export overwrites what it finds. */
export class ExportDirError extends Error {
  override name = 'ExportDirError';
}

const require = createRequire(import.meta.url);

async function checkTarget(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info) return;
  if (!info.isDirectory()) throw new ExportDirError(`${dir} exists and is not a folder`);
  const names = await readdir(dir);
  if (names.length && !names.includes('lab.json')) {
    throw new ExportDirError(`${dir} is not empty and holds no earlier export (no lab.json): pick an empty or new folder`);
  }
}

export async function exportLab(dir: string, options: ExportOptions = {}): Promise<ExportResult> {
  const log = options.log ?? (() => {});
  await checkTarget(dir);
  const { pageDir, imageDir, manifest } = await prepareLab(log);
  if (options.templates ?? true) await ensureTemplates(log);

  // An earlier export's snapshots may be of another image: only the current ones stay.
  await rm(join(dir, 'snapshots'), { recursive: true, force: true });
  const files: ExportResult['files'] = [];
  const put = async (from: string, to: string) => {
    const target = join(dir, to);
    await mkdir(join(target, '..'), { recursive: true });
    await copyFile(from, target);
    files.push({ path: to, bytes: (await stat(target)).size });
  };

  // The page, its bundle and source maps.
  for (const entry of await readdir(pageDir, { withFileTypes: true })) {
    if (entry.isFile()) await put(join(pageDir, entry.name), entry.name);
  }
  await put(require.resolve('v86/build/v86.wasm'), IMAGE_URLS.wasm);
  for (const url of [IMAGE_URLS.kernel, IMAGE_URLS.initrd, IMAGE_URLS.bios, IMAGE_URLS.vgaBios]) {
    await put(join(imageDir, basename(url)), url);
  }
  // Only the templates the current image and code would restore (listSnapshots checks their headers).
  const served = await listSnapshots(manifest);
  const templates = await snapshotDir();
  const snapshots: Record<string, string> = {};
  for (const [models, url] of Object.entries(served)) {
    const name = decodeURIComponent(url.slice(SNAPSHOT_URL_PREFIX.length));
    await put(join(templates, name), `snapshots/${name}`);
    snapshots[models] = `snapshots/${encodeURIComponent(name)}`;
  }
  const config = JSON.stringify({ image: IMAGE_URLS, snapshots, memoryMiB: 128 }, null, 2) + '\n';
  await writeFile(join(dir, 'lab.json'), config);
  files.push({ path: 'lab.json', bytes: Buffer.byteLength(config) });
  return { dir, files, snapshots };
}
