// Kernel modules for the guest: find the wanted modules in the kernel package,
// follow their dependencies (the `depends=` of each module's .modinfo, since the
// package ships no modules.dep), and write the modules.dep busybox modprobe reads.
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { modinfo } from './elf.ts';
import type { FileTree } from './tree.ts';
import { unxz } from './xz.ts';

export const moduleName = (file: string) => file.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');

export interface KernelModule {
  name: string;
  /** Path relative to /lib/modules/<release>/, e.g. kernel/drivers/net/virtio_net.ko. */
  path: string;
  depends: string[];
  data: Uint8Array;
}

/** Names sorted, so disk and memory trees (whose listing orders differ) index the same paths. */
async function walk(tree: FileTree, dir: string, rel: string, out: Map<string, string>): Promise<void> {
  const entries = (await tree.entries(`${dir}/${rel}`)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.kind === 'dir') await walk(tree, dir, path, out);
    else if (/\.ko(\.(xz|gz|zst))?$/.test(entry.name)) out.set(moduleName(entry.name), path);
  }
}

/**
 * A module's plain ELF bytes. Debian bookworm's 6.1 ships plain .ko files;
 * newer kernels compress them, and busybox insmod cannot rely on the kernel
 * decompressing, so the image always carries plain .ko files.
 */
export function decompressModule(path: string, data: Uint8Array): Uint8Array {
  if (path.endsWith('.ko')) return data;
  if (path.endsWith('.gz')) return new Uint8Array(gunzipSync(data));
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) throw new Error(`kernel module ${path} has an unknown compression`);
  const result = spawnSync(tool, ['-dc'], { input: data, maxBuffer: 256 * 1024 * 1024 });
  if (result.error || result.status !== 0) {
    throw new Error(`cannot decompress kernel module ${path}: '${tool} -dc' ${result.error ? 'is not installed' : `failed: ${String(result.stderr).trim()}`}`);
  }
  return new Uint8Array(result.stdout);
}

/** decompressModule, but .xz in JS (xz-decompress): no xz tool needed where apt is absent too. */
export async function decompressModuleAsync(path: string, data: Uint8Array): Promise<Uint8Array> {
  return path.endsWith('.ko.xz') ? unxz(data, `kernel module ${path}`) : decompressModule(path, data);
}

/**
 * Resolves `wanted` plus everything they depend on. Names built into the kernel
 * (modules.builtin) are reported in `builtin` instead. Returns modules in load
 * order (dependencies first).
 */
export async function resolveModules(tree: FileTree, releaseDir: string, wanted: readonly string[]): Promise<{ modules: KernelModule[]; builtin: string[] }> {
  const index = new Map<string, string>();
  await walk(tree, releaseDir, 'kernel', index);
  const builtinBytes = await tree.read(`${releaseDir}/modules.builtin`);
  const builtinText = builtinBytes ? new TextDecoder().decode(builtinBytes) : '';
  const builtinNames = new Set(builtinText.split('\n').filter(Boolean).map((l) => moduleName(l.split('/').pop()!)));
  const loaded = new Map<string, KernelModule>();
  const order: KernelModule[] = [];
  const builtin: string[] = [];
  const visiting = new Set<string>();
  const visit = async (raw: string, from?: string): Promise<void> => {
    const name = moduleName(raw);
    if (loaded.has(name)) return;
    if (visiting.has(name)) throw new Error(`kernel module dependency cycle through ${name}`);
    const path = index.get(name);
    if (!path) {
      if (builtinNames.has(name)) {
        if (!builtin.includes(name)) builtin.push(name);
        return;
      }
      throw new Error(`kernel module '${name}'${from ? ` (needed by ${from})` : ''} is neither in the kernel package nor built in`);
    }
    visiting.add(name);
    const stored = await tree.read(`${releaseDir}/${path}`);
    if (!stored) throw new Error(`kernel module ${path} is not a readable file in the kernel package`);
    const data = await decompressModuleAsync(path, stored);
    const depends = (modinfo(data).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean).map(moduleName);
    for (const dep of depends) await visit(dep, name);
    visiting.delete(name);
    // Shipped decompressed, so the path loses its compression suffix.
    const mod = { name, path: path.replace(/\.ko\.(xz|gz|zst)$/, '.ko'), depends, data };
    loaded.set(name, mod);
    order.push(mod);
  };
  for (const name of wanted) await visit(name);
  return { modules: order, builtin };
}

/**
 * modules.dep in depmod's format: `path: dep dep ...` listing every transitive
 * dependency so that loading the list from right to left works (busybox
 * modprobe does exactly that).
 */
export function modulesDep(modules: readonly KernelModule[]): string {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const position = new Map(modules.map((m, i) => [m.name, i]));
  const closure = (m: KernelModule, acc = new Set<string>()): Set<string> => {
    for (const d of m.depends) {
      const dep = byName.get(d);
      if (dep && !acc.has(d)) {
        acc.add(d);
        closure(dep, acc);
      }
    }
    return acc;
  };
  return [...modules]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((m) => {
      const deps = [...closure(m)].sort((a, b) => position.get(b)! - position.get(a)!).map((d) => byName.get(d)!.path);
      return `${m.path}:${deps.length ? ' ' + deps.join(' ') : ''}\n`;
    })
    .join('');
}
