// Assembling the guest root from unpacked packages: the kernel and its
// modules, busybox and its applets, the tools and exactly the shared libraries
// their ELF files need, /init and /etc. Same inputs, same bytes.
import { posix } from 'node:path';
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
import { listNames, type FileTree } from './tree.ts';

async function mustRead(tree: FileTree, path: string, pkg: Unpacked): Promise<Uint8Array> {
  const data = await tree.read(path);
  if (!data) throw new Error(`${pkg.info.name} ${pkg.info.version} has no file /${path}`);
  return data;
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
  const kernelFiles = inputs.kernel.files;
  const bootFiles = (await listNames(kernelFiles, 'boot')).filter((f) => f.startsWith('vmlinuz-'));
  if (bootFiles.length !== 1) throw new Error(`${inputs.kernel.info.name} has ${bootFiles.length} vmlinuz files, expected 1`);
  const kernelVersion = bootFiles[0]!.slice('vmlinuz-'.length);
  const vmlinuz = await mustRead(kernelFiles, `boot/${bootFiles[0]!}`, inputs.kernel);
  const releaseDir = `lib/modules/${kernelVersion}`;
  const { modules, builtin } = await resolveModules(kernelFiles, releaseDir, KERNEL_MODULES);
  const moduleRoot = `lib/modules/${kernelVersion}`;
  for (const m of modules) root.file(`${moduleRoot}/${m.path}`, m.data);
  root.file(`${moduleRoot}/modules.dep`, modulesDep(modules));
  root.file(`${moduleRoot}/modules.builtin`, await mustRead(kernelFiles, `${releaseDir}/modules.builtin`, inputs.kernel));
  root.file('etc/vmswitch/modules', KERNEL_MODULES.filter((m) => !builtin.includes(m)).join('\n') + '\n');
  log(`kernel ${kernelVersion}: ${modules.length} modules (${modules.map((m) => m.name).join(' ')})${builtin.length ? `, built in: ${builtin.join(' ')}` : ''}`);

  // Busybox and its applets.
  const busybox = await mustRead(inputs.busybox.files, 'bin/busybox', inputs.busybox);
  root.file('bin/busybox', busybox, 0o755);
  const applets = busyboxApplets(busybox).filter((a) => a !== 'busybox');
  for (const applet of applets) root.symlink(`bin/${applet}`, 'busybox');

  // Tools, then exactly the shared libraries their ELF files need (recursively).
  const libIndex = new Map<string, { data: Uint8Array; pkg: Unpacked }>();
  for (const lib of inputs.libraries) {
    for (const dir of ['lib', 'lib/i386-linux-gnu', 'usr/lib', 'usr/lib/i386-linux-gnu']) {
      for (const name of (await listNames(lib.files, dir)).sort()) {
        if (!/\.so(\.|$)/.test(name) || libIndex.has(name)) continue;
        const data = await lib.files.read(`${dir}/${name}`);
        if (data) libIndex.set(name, { data, pkg: lib });
      }
    }
  }
  const pending: Array<{ what: string; data: Uint8Array }> = [];
  let interpreter: string | undefined;
  for (const tool of inputs.tools) {
    let found = 0;
    for (const dir of BIN_DIRS) {
      for (const name of (await listNames(tool.files, dir)).sort()) {
        const data = await tool.files.read(`${dir}/${name}`);
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
      const lib = hit.data;
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
      root.file(`lib/${base}`, hit.data, 0o755);
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
  const bios = Buffer.from(await mustRead(inputs.bios.files, BIOS_FILES.bios, inputs.bios));
  const vgaBios = Buffer.from(await mustRead(inputs.bios.files, BIOS_FILES.vgaBios, inputs.bios));
  const all = [inputs.kernel, inputs.busybox, inputs.bios, ...inputs.tools, ...inputs.libraries];
  return {
    cpio, initramfs: deterministicGzip(cpio), kernelVersion, vmlinuz: Buffer.from(vmlinuz), bios, vgaBios,
    modules: modules.map((m) => m.name), builtinModules: builtin, libraries,
    used: all.filter((u) => usedPackages.has(u)),
  };
}
