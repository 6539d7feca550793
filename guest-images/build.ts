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
import { MissingPackageError, type FetchedPackage, type PackageSource } from './source.ts';
import { DiskTree, type FileTree } from './tree.ts';

export interface Unpacked {
  info: PackageInfo;
  role: PackageRole;
  debPath: string;
  /** The package's files: a folder in the cache (apt path) or in memory (mirror path). */
  files: FileTree;
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
  /** Use only what the cache already holds: no list refresh, no download (for tests; apt path only). */
  offline?: boolean;
  /** Where packages come from; defaults to the machine's apt. */
  source?: PackageSource;
}

export class NotCachedError extends Error {
  override name = 'NotCachedError';
}

/** Throws MissingToolError (or an Error) when this machine cannot run the apt path. */
export async function requireDebianTools(): Promise<void> {
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb']) {
    const result = await run(tool, ['--version']);
    if (result.code !== 0) throw new Error(`'${tool} --version' failed: building the guest image needs a working apt and dpkg (a Debian or Ubuntu machine), or --no-apt`);
  }
}

/** Whether apt-get, apt-cache and dpkg-deb are all there and run. */
export async function hasDebianTools(): Promise<boolean> {
  return requireDebianTools().then(() => true, () => false);
}

/** The machine's apt with a private state in the cache; .debs unpacked by dpkg-deb into the cache. */
export class AptSource implements PackageSource {
  readonly label = 'apt';
  private readonly apt: PrivateApt;
  private readonly log: Log;

  constructor(private readonly opts: { cacheRoot: string; log?: Log; offline?: boolean }) {
    this.log = opts.log ?? (() => {});
    this.apt = new PrivateApt(opts.cacheRoot, this.log);
  }

  async refresh(force: boolean): Promise<void> {
    await requireDebianTools();
    if (!this.opts.offline) await this.apt.update(force);
  }

  show(names: readonly string[]): Promise<Map<string, PackageInfo>> {
    return this.apt.show(names);
  }

  dependsClosure(names: readonly string[]): Promise<string[]> {
    return this.apt.dependsClosure(names);
  }

  async fetch(packages: readonly PackageInfo[]): Promise<Map<string, FetchedPackage>> {
    const debDir = join(this.opts.cacheRoot, 'debs');
    const tmpRoot = join(this.opts.cacheRoot, 'tmp');
    let debs: Map<string, string>;
    if (this.opts.offline) {
      debs = new Map();
      for (const p of packages) {
        const path = join(debDir, debFileName(p));
        if (!(await stat(path).then(() => true, () => false))) throw new NotCachedError(`${p.name} ${p.version} is not in the download cache`);
        debs.set(p.name, path);
      }
    } else {
      debs = await this.apt.download(packages, debDir, tmpRoot);
    }
    const extractRoot = join(this.opts.cacheRoot, 'extracted');
    const out = new Map<string, FetchedPackage>();
    for (const info of packages) {
      const debPath = debs.get(info.name)!;
      const { dir, fresh } = await extractDeb(debPath, info, extractRoot, tmpRoot);
      if (fresh) this.log(`  unpacked ${info.name} ${info.version}`);
      out.set(info.name, { debPath, files: new DiskTree(dir) });
    }
    return out;
  }
}

async function showAll(source: PackageSource, names: string[]): Promise<Map<string, PackageInfo>> {
  const found = await source.show(names);
  const missing = names.filter((n) => !found.has(n));
  if (missing.length) {
    const where = source.label === 'apt' ? "the machine's apt sources need Debian bookworm main" : `read from the ${source.label}`;
    throw new MissingPackageError(`package(s) ${missing.join(', ')} not found in the i386 package lists (${where})`);
  }
  return found;
}

/**
 * The lib* packages reachable from `roots` through Depends (first
 * alternatives), following lib* packages only (other packages carry no
 * libraries the tools load). Candidates come from one recursive closure and
 * one show, as `apt-cache depends --recurse` and `apt-cache show` give them.
 */
async function libraryClosure(source: PackageSource, roots: PackageInfo[]): Promise<PackageInfo[]> {
  const candidates = (await source.dependsClosure(roots.map((r) => r.name))).filter((n) => n.startsWith('lib'));
  const info = await source.show(candidates);
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
  const source = opts.source ?? new AptSource({ cacheRoot: opts.cacheRoot, log, offline: opts.offline });
  // First: the apt source checks for its tools, the mirror source reads its lists; nothing is written before.
  await source.refresh(opts.force ?? false);
  const tmpRoot = join(opts.cacheRoot, 'tmp');
  await mkdir(tmpRoot, { recursive: true });
  await cleanStaleTemporaries(tmpRoot);

  const meta = (await showAll(source, [KERNEL_METAPACKAGE])).get(KERNEL_METAPACKAGE)!;
  const kernelName = meta.depends.find((d) => d.startsWith('linux-image-'));
  if (!kernelName) throw new Error(`${KERNEL_METAPACKAGE} ${meta.version} depends on no linux-image-* package`);
  const direct = await showAll(source, [kernelName, BUSYBOX_PACKAGE, BIOS_PACKAGE, ...TOOL_PACKAGES]);
  const tools = TOOL_PACKAGES.map((n) => direct.get(n)!);
  const libraries = await libraryClosure(source, tools);
  log(`packages: kernel ${kernelName} ${direct.get(kernelName)!.version}, ${TOOL_PACKAGES.length} tools, ${libraries.length} library candidates`);

  const all: Array<[PackageInfo, PackageRole]> = [
    [direct.get(kernelName)!, 'kernel'],
    [direct.get(BUSYBOX_PACKAGE)!, 'busybox'],
    [direct.get(BIOS_PACKAGE)!, 'bios'],
    ...tools.map((p): [PackageInfo, PackageRole] => [p, 'tool']),
    ...libraries.map((p): [PackageInfo, PackageRole] => [p, 'library']),
  ];
  const fetched = await source.fetch(all.map(([p]) => p));
  const unpacked: Unpacked[] = all.map(([info, role]) => {
    const got = fetched.get(info.name);
    if (!got) throw new MissingPackageError(`${info.name} ${info.version} could not be fetched from the ${source.label}`);
    return { info, role, debPath: got.debPath, files: got.files };
  });
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
