// The build: resolve and fetch the Debian packages and unpack them
// (prepareInputs), then write the assembled image with its manifest (writeImage).
// The assembly itself is in initramfs.ts.
import { mkdir, rename, rm, writeFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PrivateApt, debFileName, run, type Log, type PackageInfo } from './apt.ts';
import { extractDeb, cleanStaleTemporaries } from './deb.ts';
import type { Assembled } from './initramfs.ts';
import { BIOS_PACKAGE, BUSYBOX_PACKAGE, KERNEL_METAPACKAGE, TOOL_PACKAGES } from './recipe.ts';
import { MANIFEST_FILE, OUTPUT_FILES, recipeHash, type Manifest, type PackageRole } from './manifest.ts';

export interface Unpacked {
  info: PackageInfo;
  role: PackageRole;
  debPath: string;
  dir: string;
}

export interface BuildInputs {
  kernel: Unpacked;
  busybox: Unpacked;
  bios: Unpacked;
  tools: Unpacked[];
  /** Library candidates: the lib* packages in the tools' Depends closure. */
  libraries: Unpacked[];
}

export interface PrepareOptions {
  cacheRoot: string;
  force?: boolean;
  log?: Log;
  /** Use only what the cache already holds: no list refresh, no download (for tests). */
  offline?: boolean;
}

export class NotCachedError extends Error {
  override name = 'NotCachedError';
}

async function requireDebianTools(): Promise<void> {
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb']) {
    const result = await run(tool, ['--version']);
    if (result.code !== 0) throw new Error(`'${tool} --version' failed: building the guest image needs a working apt and dpkg (a Debian or Ubuntu machine)`);
  }
}

async function showAll(apt: PrivateApt, names: string[]): Promise<Map<string, PackageInfo>> {
  const found = await apt.show(names);
  const missing = names.filter((n) => !found.has(n));
  if (missing.length) {
    throw new Error(`package(s) ${missing.join(', ')} not found in the i386 package lists (the machine's apt sources need Debian bookworm main)`);
  }
  return found;
}

/**
 * The lib* packages reachable from `roots` through Depends, following lib*
 * packages only (other packages carry no libraries the tools load). Resolved
 * from one `apt-cache depends --recurse` and one `apt-cache show`.
 */
async function libraryClosure(apt: PrivateApt, roots: PackageInfo[]): Promise<PackageInfo[]> {
  const candidates = (await apt.dependsClosure(roots.map((r) => r.name))).filter((n) => n.startsWith('lib'));
  const info = await apt.show(candidates);
  const seen = new Map<string, PackageInfo>();
  const queue = roots.flatMap((p) => p.depends);
  while (queue.length) {
    const name = queue.shift()!;
    const p = info.get(name);
    if (!name.startsWith('lib') || seen.has(name) || !p) continue;
    seen.set(name, p);
    queue.push(...p.depends);
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export async function prepareInputs(opts: PrepareOptions): Promise<BuildInputs> {
  const log = opts.log ?? (() => {});
  await requireDebianTools();
  const apt = new PrivateApt(opts.cacheRoot, log);
  const tmpRoot = join(opts.cacheRoot, 'tmp');
  await mkdir(tmpRoot, { recursive: true });
  await cleanStaleTemporaries(tmpRoot);
  if (!opts.offline) await apt.update(opts.force ?? false);

  const meta = (await showAll(apt, [KERNEL_METAPACKAGE])).get(KERNEL_METAPACKAGE)!;
  const kernelName = meta.depends.find((d) => d.startsWith('linux-image-'));
  if (!kernelName) throw new Error(`${KERNEL_METAPACKAGE} ${meta.version} depends on no linux-image-* package`);
  const direct = await showAll(apt, [kernelName, BUSYBOX_PACKAGE, BIOS_PACKAGE, ...TOOL_PACKAGES]);
  const tools = TOOL_PACKAGES.map((n) => direct.get(n)!);
  const libraries = await libraryClosure(apt, tools);
  log(`packages: kernel ${kernelName} ${direct.get(kernelName)!.version}, ${TOOL_PACKAGES.length} tools, ${libraries.length} library candidates`);

  const all: Array<[PackageInfo, PackageRole]> = [
    [direct.get(kernelName)!, 'kernel'],
    [direct.get(BUSYBOX_PACKAGE)!, 'busybox'],
    [direct.get(BIOS_PACKAGE)!, 'bios'],
    ...tools.map((p): [PackageInfo, PackageRole] => [p, 'tool']),
    ...libraries.map((p): [PackageInfo, PackageRole] => [p, 'library']),
  ];
  const debDir = join(opts.cacheRoot, 'debs');
  let debs: Map<string, string>;
  if (opts.offline) {
    debs = new Map();
    for (const [p] of all) {
      const path = join(debDir, debFileName(p));
      if (!(await stat(path).then(() => true, () => false))) throw new NotCachedError(`${p.name} ${p.version} is not in the download cache`);
      debs.set(p.name, path);
    }
  } else {
    debs = await apt.download(all.map(([p]) => p), debDir, tmpRoot);
  }

  const extractRoot = join(opts.cacheRoot, 'extracted');
  const unpacked: Unpacked[] = [];
  for (const [info, role] of all) {
    const debPath = debs.get(info.name)!;
    const { dir, fresh } = await extractDeb(debPath, info, extractRoot, tmpRoot);
    if (fresh) log(`  unpacked ${info.name} ${info.version}`);
    unpacked.push({ info, role, debPath, dir });
  }
  const byRole = (role: PackageRole) => unpacked.filter((u) => u.role === role);
  return { kernel: byRole('kernel')[0]!, busybox: byRole('busybox')[0]!, bios: byRole('bios')[0]!, tools: byRole('tool'), libraries: byRole('library') };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Writes the image into outDir: files first, manifest.json last (its presence marks a complete image). */
export async function writeImage(a: Assembled, outDir: string, hash = recipeHash()): Promise<Manifest> {
  const manifest: Manifest = {
    format: 1,
    recipeHash: hash,
    kernelVersion: a.kernelVersion,
    packages: a.used.map((u) => ({ name: u.info.name, version: u.info.version, role: u.role, debSha256: u.info.sha256 })),
    modules: a.modules,
    builtinModules: a.builtinModules,
    libraries: a.libraries,
    files: {} as Manifest['files'],
    initramfsCpioSha256: sha256(a.cpio),
  };
  const contents: Record<string, Buffer> = {
    [OUTPUT_FILES.kernel]: a.vmlinuz,
    [OUTPUT_FILES.initrd]: a.initramfs,
    [OUTPUT_FILES.bios]: a.bios,
    [OUTPUT_FILES.vgaBios]: a.vgaBios,
  };
  await mkdir(outDir, { recursive: true });
  const staging = join(outDir, `.staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging);
  try {
    for (const [name, data] of Object.entries(contents)) {
      await writeFile(join(staging, name), data);
      manifest.files[name as keyof Manifest['files']] = { sha256: sha256(data), size: data.length };
    }
    await rm(join(outDir, MANIFEST_FILE), { force: true });
    for (const name of Object.keys(contents)) await rename(join(staging, name), join(outDir, name));
    await writeFile(join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    await rename(join(staging, MANIFEST_FILE), join(outDir, MANIFEST_FILE));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return manifest;
}
