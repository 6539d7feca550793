import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, chmodSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_SCRIPT, INIT_SCRIPT, ORDER_NICS_SCRIPT, READY_LINE } from './init.ts';

test('guest scripts: valid shell syntax (checked by the host sh)', () => {
  for (const [name, text] of Object.entries({ INIT_SCRIPT, CONFIG_SCRIPT, ORDER_NICS_SCRIPT })) {
    const result = spawnSync('sh', ['-n'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `${name}: ${result.stderr}`);
  }
  assert.ok(INIT_SCRIPT.includes(`\necho ${READY_LINE}\n`));
});

/** Runs vmswitch-config on the host with fake `ip` and `hostname` that only record their arguments. */
function runConfig(...runs: string[][]) {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-config-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    mkdirSync(join(dir, 'sys/class/net/eth0'), { recursive: true });
    mkdirSync(join(dir, 'etc/vmswitch'), { recursive: true });
    const fake = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    fake('ip', `echo "ip $*" >> "${dir}/log"`);
    fake('hostname', `if [ $# = 1 ]; then echo "$1" > "${dir}/name"; else cat "${dir}/name" 2>/dev/null || echo localhost; fi`);
    // Point the script's absolute paths into the sandbox.
    const script = CONFIG_SCRIPT.replaceAll('/sys/class/net', `${dir}/sys/class/net`).replaceAll('/etc/', `${dir}/etc/`).replace('state=/etc/vmswitch', `state=${dir}/etc/vmswitch`);
    writeFileSync(join(dir, 'config'), script);
    let result!: SpawnSyncReturns<string>;
    for (const args of runs) result = spawnSync('sh', [join(dir, 'config'), ...args], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin` } });
    const read = (f: string) => { try { return readFileSync(join(dir, f), 'utf8'); } catch { return ''; } };
    return { status: result.status, stderr: result.stderr, log: read('log'), hosts: read('etc/hosts'), hostname: read('etc/hostname') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('vmswitch-config: hostname, addresses in NIC order, /etc/hosts', () => {
  const r = runConfig(['hostname=a', 'ip=10.0.0.1/24,10.0.1.1/24', 'hosts=a=10.0.0.1,b=10.0.0.2', 'mac=eth0=02:00:00:00:00:01']);
  assert.equal(r.hostname, 'a\n');
  assert.equal(r.hosts, '127.0.0.1 localhost\n10.0.0.1 a\n10.0.0.2 b\n');
  assert.match(r.log, /ip addr add 10\.0\.0\.1\/24 dev eth0/);
  assert.match(r.log, /ip link set dev eth0 address 02:00:00:00:00:01/);
  // There is no eth1 in the sandbox: reported, exit status 1.
  assert.match(r.stderr, /no NIC eth1 for 10\.0\.1\.1\/24/);
  assert.equal(r.status, 1);
});

test('vmswitch-config: a later run with only a new hostname keeps the hosts list', () => {
  const r = runConfig(['hostname=a', 'hosts=a=10.0.0.1,b=10.0.0.2'], ['hostname=c']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.hosts, '127.0.0.1 localhost\n10.0.0.1 a\n10.0.0.2 b\n127.0.1.1 c\n');
  assert.equal(r.stderr, '');
});

test('vmswitch-config: unknown keys and bad hostnames exit 2', () => {
  assert.equal(runConfig(['colour=blue']).status, 2);
  assert.equal(runConfig(['hostname=bad name!']).status, 2);
  const unlisted = runConfig(['hostname=solo']);
  assert.equal(unlisted.status, 0, unlisted.stderr);
  assert.equal(unlisted.hosts, '127.0.0.1 localhost\n127.0.1.1 solo\n');
});

/** Runs vmswitch-order-nics against a fake /sys/class/net whose `device` links point at fake PCI paths. */
function orderNics(nics: Record<string, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-order-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'ip'), `#!/bin/sh\necho "$*" >> "${dir}/log"\n`);
    chmodSync(join(bin, 'ip'), 0o755);
    mkdirSync(join(dir, 'sys/class/net/lo'), { recursive: true });
    for (const [name, pciPath] of Object.entries(nics)) {
      mkdirSync(join(dir, 'sys/class/net', name), { recursive: true });
      mkdirSync(join(dir, 'devices', pciPath), { recursive: true });
      symlinkSync(join(dir, 'devices', pciPath), join(dir, 'sys/class/net', name, 'device'));
    }
    writeFileSync(join(dir, 'order'), ORDER_NICS_SCRIPT.replaceAll('/sys/class/net', `${dir}/sys/class/net`));
    const result = spawnSync('sh', [join(dir, 'order')], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin` } });
    assert.equal(result.status, 0, result.stderr);
    return existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').trim().split('\n') : [];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('vmswitch-order-nics: eth names follow PCI slot order, whichever driver bound first', () => {
  // virtio_net (slot 0x0a) was named eth1 because e1000 (slot 0x10) loaded first.
  assert.deepEqual(orderNics({ eth0: 'pci0000:00/0000:00:10.0', eth1: 'pci0000:00/0000:00:0a.0/virtio0' }), [
    'link set dev eth1 name vmsw0',
    'link set dev eth0 name vmsw1',
    'link set dev vmsw0 name eth0',
    'link set dev vmsw1 name eth1',
  ]);
  assert.deepEqual(orderNics({ eth0: 'pci0000:00/0000:00:0a.0/virtio0', eth1: 'pci0000:00/0000:00:0f.0' }), [], 'already in order: nothing renamed');
});
