// Kernel modules for the guest: find the wanted modules in the kernel package,
// follow their dependencies (the `depends=` of each module's .modinfo, since the
// package ships no modules.dep), and write the modules.dep busybox modprobe reads.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { modinfo } from './elf.ts';

export const moduleName = (file: string) => file.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');

export interface KernelModule {
  name: string;
  /** Path relative to /lib/modules/<release>/, e.g. kernel/drivers/net/virtio_net.ko. */
  path: string;
  depends: string[];
  data: Uint8Array;
}

async function walk(dir: string, rel: string, out: Map<string, string>): Promise<void> {
  for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) await walk(dir, path, out);
    else if (/\.ko$/.test(entry.name)) out.set(moduleName(entry.name), path);
    else if (/\.ko\.(xz|gz|zst)$/.test(entry.name)) {
      // This kernel (Debian bookworm 6.1) ships plain .ko files; a compressed one would need a decompressor here.
      throw new Error(`kernel module ${path} is compressed; this builder only handles uncompressed modules`);
    }
  }
}

/**
 * Resolves `wanted` plus everything they depend on. Names built into the kernel
 * (modules.builtin) are reported in `builtin` instead. Returns modules in load
 * order (dependencies first).
 */
export async function resolveModules(releaseDir: string, wanted: readonly string[]): Promise<{ modules: KernelModule[]; builtin: string[] }> {
  const index = new Map<string, string>();
  await walk(releaseDir, 'kernel', index);
  const builtinText = await readFile(join(releaseDir, 'modules.builtin'), 'utf8').catch(() => '');
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
    const data = new Uint8Array(await readFile(join(releaseDir, path)));
    const depends = (modinfo(data).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean).map(moduleName);
    for (const dep of depends) await visit(dep, name);
    visiting.delete(name);
    const mod = { name, path, depends, data };
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
