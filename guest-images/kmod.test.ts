import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decompressModule, decompressModuleAsync, moduleName, modulesDep, resolveModules, type KernelModule } from './kmod.ts';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { cacheDir } from './paths.ts';
import { DiskTree } from './tree.ts';

const mod = (name: string, path: string, depends: string[]): KernelModule => ({ name, path, depends, data: new Uint8Array(0) });

test('kmod: module names from file names', () => {
  assert.equal(moduleName('virtio-net.ko'), 'virtio_net');
  assert.equal(moduleName('e1000.ko.xz'), 'e1000');
});

test('kmod: modules.dep lists every transitive dependency, loadable right to left', () => {
  // Load order: dependencies first.
  const modules = [
    mod('llc', 'kernel/net/llc/llc.ko', []),
    mod('stp', 'kernel/net/802/stp.ko', ['llc']),
    mod('garp', 'kernel/net/802/garp.ko', ['stp', 'llc']),
    mod('mrp', 'kernel/net/802/mrp.ko', []),
    mod('8021q', 'kernel/net/8021q/8021q.ko', ['mrp', 'garp']),
  ];
  const lines = modulesDep(modules).trim().split('\n');
  const line = lines.find((l) => l.startsWith('kernel/net/8021q/8021q.ko:'))!;
  const deps = line.split(': ')[1]!.split(' ');
  assert.deepEqual(new Set(deps), new Set(['kernel/net/802/mrp.ko', 'kernel/net/802/garp.ko', 'kernel/net/802/stp.ko', 'kernel/net/llc/llc.ko']));
  // Right to left, every module comes after what it depends on.
  const loadOrder = [...deps].reverse().map((p) => modules.find((m) => m.path === p)!);
  const loaded = new Set<string>();
  for (const m of loadOrder) {
    for (const d of m.depends) assert.ok(loaded.has(d), `${m.name} loaded before ${d}`);
    loaded.add(m.name);
  }
  assert.ok(lines.includes('kernel/net/llc/llc.ko:'));
  assert.equal(lines.length, 5);
});

test('kmod: the real kernel package resolves the NIC modules and their dependencies', async (t) => {
  const extracted = join(cacheDir(), 'extracted');
  const dir = existsSync(extracted) ? readdirSync(extracted).find((d) => /^linux-image-[0-9]/.test(d)) : undefined;
  if (!dir) return t.skip(`no unpacked kernel in ${extracted} (run 'vmswitch image build' first)`);
  const release = readdirSync(join(extracted, dir, 'lib/modules'))[0]!;
  const { modules, builtin } = await resolveModules(new DiskTree(join(extracted, dir)), `lib/modules/${release}`, ['virtio_net', 'e1000', '8021q', 'af_packet']);
  const names = modules.map((m) => m.name);
  for (const n of ['virtio_net', 'net_failover', 'failover', 'virtio', 'virtio_ring', 'e1000', '8021q', 'garp', 'mrp', 'stp', 'llc']) assert.ok(names.includes(n), n);
  assert.ok(names.indexOf('failover') < names.indexOf('net_failover') && names.indexOf('net_failover') < names.indexOf('virtio_net'));
  assert.equal(names.includes('af_packet') || builtin.includes('af_packet'), true);
  await assert.rejects(resolveModules(new DiskTree(join(extracted, dir)), `lib/modules/${release}`, ['no_such_module']), /neither in the kernel package nor built in/);
});

test('kmod: compressed modules come out as plain ELF (gzip always, xz when the host has xz)', (t) => {
  const elf = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(100, 7)]);
  assert.deepEqual(Buffer.from(decompressModule('kernel/a.ko.gz', gzipSync(elf))), elf);
  assert.equal(decompressModule('kernel/a.ko', elf), elf);
  assert.throws(() => decompressModule('kernel/a.ko.gz', Buffer.from('not gzip')));
  const xz = spawnSync('xz', ['-c'], { input: elf });
  if (xz.error || xz.status !== 0) return t.skip('no xz on this machine');
  assert.deepEqual(Buffer.from(decompressModule('kernel/a.ko.xz', xz.stdout)), elf);
  assert.throws(() => decompressModule('kernel/a.ko.xz', Buffer.from('not xz')), /cannot decompress/);
});

test('kmod: .ko.xz modules decompress in JS as well (no xz tool needed)', async (t) => {
  const elf = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(100, 7)]);
  const xz = spawnSync('xz', ['-c'], { input: elf });
  if (xz.error || xz.status !== 0) return t.skip('no xz on this machine to make the fixture');
  assert.deepEqual(Buffer.from(await decompressModuleAsync('kernel/a.ko.xz', xz.stdout)), elf);
  await assert.rejects(decompressModuleAsync('kernel/a.ko.xz', Buffer.from('not xz')), /corrupt or truncated xz/);
  assert.deepEqual(Buffer.from(await decompressModuleAsync('kernel/a.ko.gz', gzipSync(elf))), elf);
});
