// The build: resolve and fetch the Debian packages, unpack them, pick the
// kernel, modules, busybox, tools and exactly the libraries they need, and
// write the image (vmlinuz, initramfs.cpio.gz, BIOS files, manifest.json).
import { mkdir, readFile, readdir, rename, rm, writeFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { PrivateApt, run, type Log, type PackageInfo } from './apt.ts';
import { extractDeb, cleanStaleTemporaries } from './deb.ts';
import { isElf, parseElf } from './elf.ts';
import { busyboxApplets } from './busybox.ts';
import { modulesDep, resolveModules } from './kmod.ts';
import { RootFs } from './rootfs.ts';
import { deterministicGzip } from './gzip.ts';
import { INIT_SCRIPT, CONFIG_SCRIPT, ORDER_NICS_SCRIPT } from './init/init.ts';
import { GROUP, NSSWITCH, PASSWD, PROFILE, PROTOCOLS, SERVICES } from './init/etc.ts';
import { BIN_DIRS, BIOS_FILES, BIOS_PACKAGE, BUSYBOX_PACKAGE, KERNEL_METAPACKAGE, KERNEL_MODULES, TOOL_PACKAGES } from './recipe.ts';
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

/** The lib* packages reachable from `roots` through Depends (other packages carry no libraries we load). */
async function libraryClosure(apt: PrivateApt, roots: PackageInfo[]): Promise<PackageInfo[]> {
  const seen = new Map<string, PackageInfo>();
  let frontier = [...new Set(roots.flatMap((p) => p.depends))].filter((n) => n.startsWith('lib'));
  while (frontier.length) {
    const found = await apt.show(frontier.filter((n) => !seen.has(n)));
    for (const p of found.values()) seen.set(p.name, p);
    frontier = [...new Set([...found.values()].flatMap((p) => p.depends))].filter((n) => n.startsWith('lib') && !seen.has(n));
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
      const path = join(debDir, `${p.name}_${p.version.replace(/:/g, '%3a')}_i386.deb`);
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

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

async function isRegularOrLink(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

export interface Assembled {
  cpio: Buffer;
  initramfs: Buffer;
  kernelVersion: string;
  vmlinuz: Buffer;
  bios: Buffer;
  vgaBios: Buffer;
  modules: string[];
  builtinModules: string[];
  libraries: Array<{ soname: string; package: string }>;
  /** Packages whose files are in the image. */
  used: Unpacked[];
}

/** Builds the image contents from unpacked packages. Pure with respect to its inputs: same inputs, same bytes. */
export async function assemble(inputs: BuildInputs, log: Log = () => {}): Promise<Assembled> {
  const root = new RootFs();
  for (const d of ['proc', 'sys', 'dev', 'run', 'mnt', 'var', 'etc/vmswitch']) root.dir(d);
  root.dir('tmp', 0o1777).dir('var/tmp', 0o1777).dir('root', 0o700);
  root.symlink('sbin', 'bin').symlink('usr/bin', '../bin').symlink('usr/sbin', '../bin').symlink('usr/lib', '../lib').symlink('var/run', '../run');
  // The kernel opens /dev/console for init before devtmpfs is mounted.
  root.charDevice('dev/console', 5, 1).charDevice('dev/null', 1, 3, 0o666);

  // Kernel and modules.
  const bootFiles = (await listDir(join(inputs.kernel.dir, 'boot'))).filter((f) => f.startsWith('vmlinuz-'));
  if (bootFiles.length !== 1) throw new Error(`${inputs.kernel.info.name} has ${bootFiles.length} vmlinuz files, expected 1`);
  const kernelVersion = bootFiles[0]!.slice('vmlinuz-'.length);
  const vmlinuz = await readFile(join(inputs.kernel.dir, 'boot', bootFiles[0]!));
  const releaseDir = join(inputs.kernel.dir, 'lib/modules', kernelVersion);
  const { modules, builtin } = await resolveModules(releaseDir, KERNEL_MODULES);
  const moduleRoot = `lib/modules/${kernelVersion}`;
  for (const m of modules) root.file(`${moduleRoot}/${m.path}`, m.data);
  root.file(`${moduleRoot}/modules.dep`, modulesDep(modules));
  root.file(`${moduleRoot}/modules.builtin`, await readFile(join(releaseDir, 'modules.builtin')));
  root.file('etc/vmswitch/modules', KERNEL_MODULES.filter((m) => !builtin.includes(m)).join('\n') + '\n');
  log(`kernel ${kernelVersion}: ${modules.length} modules (${modules.map((m) => m.name).join(' ')})${builtin.length ? `, built in: ${builtin.join(' ')}` : ''}`);

  // Busybox and its applets.
  const busybox = await readFile(join(inputs.busybox.dir, 'bin/busybox'));
  root.file('bin/busybox', busybox, 0o755);
  const applets = busyboxApplets(busybox).filter((a) => a !== 'busybox');
  for (const applet of applets) root.symlink(`bin/${applet}`, 'busybox');

  // Tools, then exactly the shared libraries their ELF files need (recursively).
  const libIndex = new Map<string, { path: string; pkg: Unpacked }>();
  for (const lib of inputs.libraries) {
    for (const dir of ['lib', 'lib/i386-linux-gnu', 'usr/lib', 'usr/lib/i386-linux-gnu']) {
      for (const name of (await listDir(join(lib.dir, dir))).sort()) {
        if (!/\.so(\.|$)/.test(name) || libIndex.has(name)) continue;
        if (await isRegularOrLink(join(lib.dir, dir, name))) libIndex.set(name, { path: join(lib.dir, dir, name), pkg: lib });
      }
    }
  }
  const pending: Array<{ what: string; data: Buffer }> = [];
  let interpreter: string | undefined;
  for (const tool of inputs.tools) {
    let found = 0;
    for (const dir of BIN_DIRS) {
      for (const name of (await listDir(join(tool.dir, dir))).sort()) {
        const data = await readFile(join(tool.dir, dir, name)).catch(() => undefined);
        if (!data || !isElf(data)) continue;
        root.file(`bin/${name}`, data, 0o755, { replace: true });
        pending.push({ what: `${tool.info.name}:/${dir}/${name}`, data });
        found++;
      }
    }
    if (!found) throw new Error(`tool package ${tool.info.name} has no executable in ${BIN_DIRS.join(', ')}`);
  }
  const libraries: Array<{ soname: string; package: string }> = [];
  const usedPackages = new Set<Unpacked>([inputs.kernel, inputs.busybox, inputs.bios, ...inputs.tools]);
  const added = new Set<string>();
  while (pending.length) {
    const { what, data } = pending.shift()!;
    const elf = parseElf(data);
    if (elf.interpreter) {
      if (interpreter && interpreter !== elf.interpreter) throw new Error(`${what} wants loader ${elf.interpreter}, others ${interpreter}`);
      interpreter = elf.interpreter;
    }
    for (const soname of elf.needed) {
      if (added.has(soname)) continue;
      const hit = libIndex.get(soname);
      if (!hit) throw new Error(`${what} needs ${soname}, which no package in the tools' dependencies provides`);
      const lib = await readFile(hit.path);
      added.add(soname);
      root.file(`lib/${soname}`, lib, 0o755);
      libraries.push({ soname, package: hit.pkg.info.name });
      usedPackages.add(hit.pkg);
      pending.push({ what: `${hit.pkg.info.name}:${soname}`, data: lib });
    }
  }
  if (interpreter) {
    const base = posix.basename(interpreter);
    const hit = libIndex.get(base);
    if (!hit) throw new Error(`the dynamic loader ${interpreter} is in no library package`);
    if (!added.has(base)) {
      root.file(`lib/${base}`, await readFile(hit.path), 0o755);
      libraries.push({ soname: base, package: hit.pkg.info.name });
      usedPackages.add(hit.pkg);
      added.add(base);
    }
    if (interpreter !== `/lib/${base}`) root.symlink(interpreter, `/lib/${base}`);
  }
  libraries.sort((a, b) => a.soname.localeCompare(b.soname));
  log(`tools: ${inputs.tools.map((t) => t.info.name).join(' ')}; ${libraries.length} shared libraries: ${libraries.map((l) => l.soname).join(' ')}`);

  // Init, configuration scripts and /etc.
  root.file('init', INIT_SCRIPT, 0o755);
  root.file('bin/vmswitch-config', CONFIG_SCRIPT, 0o755);
  root.file('bin/vmswitch-order-nics', ORDER_NICS_SCRIPT, 0o755);
  root.file('etc/profile', PROFILE).file('etc/passwd', PASSWD).file('etc/group', GROUP).file('etc/nsswitch.conf', NSSWITCH);
  root.file('etc/protocols', PROTOCOLS).file('etc/services', SERVICES).file('etc/hostname', 'vmswitch\n').file('etc/hosts', '127.0.0.1 localhost\n');

  const cpio = root.toCpio();
  const bios = await readFile(join(inputs.bios.dir, BIOS_FILES.bios));
  const vgaBios = await readFile(join(inputs.bios.dir, BIOS_FILES.vgaBios));
  const all = [inputs.kernel, inputs.busybox, inputs.bios, ...inputs.tools, ...inputs.libraries];
  return {
    cpio, initramfs: deterministicGzip(cpio), kernelVersion, vmlinuz, bios, vgaBios,
    modules: modules.map((m) => m.name), builtinModules: builtin, libraries,
    used: all.filter((u) => usedPackages.has(u)),
  };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Writes the image into outDir: files first, manifest.json last (its presence marks a complete image). */
export async function writeImage(a: Assembled, outDir: string, hash = recipeHash()): Promise<Manifest> {
  const manifest: Manifest = {
    format: 1,
    recipeHash: hash,
    kernelVersion: a.kernelVersion,
    packages: await Promise.all(
      a.used.map(async (u) => ({ name: u.info.name, version: u.info.version, role: u.role, debSha256: u.info.sha256 })),
    ),
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
