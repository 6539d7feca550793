// Assembling the guest root from unpacked packages: the kernel and its
// modules, busybox and its applets, the tools and exactly the shared libraries
// their ELF files need, /init and /etc. Same inputs, same bytes.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Log } from './apt.ts';
import type { BuildInputs, Unpacked } from './build.ts';
import { isElf, parseElf } from './elf.ts';
import { busyboxApplets } from './busybox.ts';
import { modulesDep, resolveModules } from './kmod.ts';
import { RootFs } from './rootfs.ts';
import { deterministicGzip } from './gzip.ts';
import { INIT_SCRIPT, CONFIG_SCRIPT, ORDER_NICS_SCRIPT } from './init/init.ts';
import { UDHCPC_SCRIPT } from './init/udhcpc.ts';
import { GROUP, NSSWITCH, PASSWD, PROFILE, PROTOCOLS, SERVICES } from './init/etc.ts';
import { BIN_DIRS, BIOS_FILES, KERNEL_MODULES } from './recipe.ts';

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
  root.file('etc/udhcpc/default.script', UDHCPC_SCRIPT, 0o755);
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
