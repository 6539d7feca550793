// The Linux kernel as the VXLAN peer (root only). The test makes a network
// namespace and a veth pair into it; in the namespace a kernel `vxlan` device
// (VNI 4243, dstport 4789) with 10.0.0.99/24; our lab binds its VTEP to the
// veth's address in this namespace (the kernel short-cuts VXLAN to local
// addresses, so both ends in one namespace on loopback would not talk).
// The kernel pings the guest, the guest pings the kernel, tshark on the veth
// decodes the VXLAN header with our VNI. Open vSwitch as a peer: when
// `ovs-vsctl` is installed (optional). The namespace (and with it the veth
// pair) is removed whatever happens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { Lab } from '../../host/lab/index.ts';
import { VxlanSocketUplink } from '../../host/uplink/vxlan-socket.ts';
import { labShell } from './shell.ts';

const VNI = 4243;
const tag = String(process.pid % 100000);
const NS = `vxk${tag}`;
const VETH_HOST = `vxh${tag}`;
const VETH_NS = `vxn${tag}`;
// 198.18.0.0/15 is for network tests (RFC 2544); the third octet from our pid keeps parallel runs apart.
const NET = `198.18.${process.pid % 250}`;
const HOST_ADDRESS = `${NET}.1`;
const NS_ADDRESS = `${NET}.2`;

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, a kernel vxlan device)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'no `ip` (iproute2)';
  const probe = `vxprobe${tag}`;
  const added = spawnSync('ip', ['netns', 'add', probe]);
  spawnSync('ip', ['netns', 'del', probe]);
  if (added.status !== 0) return `ip netns add does not work here: ${added.stderr.toString().trim()}`;
  return undefined;
}

const skip = whyNot();
if (skip) console.log(`# vxlan-kernel: skipped: ${skip}`);

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** A command in the namespace. Asynchronous on purpose: the guest runs on this process's event loop, a spawnSync would freeze it. */
function inNs(...args: string[]): Promise<{ output: string; status: number | null }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ output: `${stdout}${stderr}`, status: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}

function cleanup(): void {
  spawnSync('ip', ['netns', 'del', NS]);
  // Deleting the namespace destroys its veth end, and with it ours; this is for a half-made setup.
  spawnSync('ip', ['link', 'del', VETH_HOST]);
}

let lab: Lab | undefined;
let uplink: VxlanSocketUplink | undefined;
const { ok } = labShell(() => lab!);

before(async () => {
  if (skip) return;
  cleanup();
  process.once('exit', cleanup);
  ip('netns', 'add', NS);
  ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NS);
  ip('addr', 'add', `${HOST_ADDRESS}/29`, 'dev', VETH_HOST);
  ip('link', 'set', VETH_HOST, 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'addr', 'add', `${NS_ADDRESS}/29`, 'dev', VETH_NS);
  ip('-n', NS, 'link', 'set', VETH_NS, 'up');
  ip('-n', NS, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'dstport', '4789', 'local', NS_ADDRESS, 'remote', HOST_ADDRESS, 'dev', VETH_NS);
  ip('-n', NS, 'addr', 'add', '10.0.0.99/24', 'dev', 'vx0');
  ip('-n', NS, 'link', 'set', 'vx0', 'up');
  uplink = await VxlanSocketUplink.open({ vni: VNI, local: { address: HOST_ADDRESS, port: 4789, family: 4 }, peers: [{ address: NS_ADDRESS, port: 4789, family: 4 }] });
  lab = new Lab();
  await lab.attachUplink(uplink);
  await lab.start('a', { nics: [{ model: 'virtio', ip: '10.0.0.11/24' }] });
});

after(async () => {
  try {
    await lab?.close();
  } finally {
    if (!skip) cleanup();
  }
});

test('the kernel pings the guest and the guest pings the kernel; tshark decodes VXLAN with our VNI', { skip }, async () => {
  assert.match(ip('-n', NS, '-d', 'link', 'show', 'vx0'), new RegExp(`vxlan id ${VNI} remote ${NS_ADDRESS.replace(/\./g, '\\.')}|vxlan id ${VNI}`));
  // tshark in this namespace on our end of the veth pair: every VXLAN datagram both ways.
  const tshark = spawn('tshark', ['-i', VETH_HOST, '-l', '-n', '-f', 'udp port 4789', '-a', 'duration:60', '-c', '12', '-T', 'fields', '-e', 'ip.src', '-e', 'vxlan.vni', '-e', 'vxlan.flags', '-e', 'eth.type'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let captured = '';
  tshark.stdout.on('data', (chunk: Buffer) => (captured += chunk.toString()));
  let tsharkErr = '';
  tshark.stderr.on('data', (chunk: Buffer) => (tsharkErr += chunk.toString()));
  const tsharkDone = new Promise<void>((resolve) => tshark.on('exit', () => resolve()));
  for (let i = 0; i < 100 && !/Capturing on/.test(tsharkErr); i++) await new Promise((r) => setTimeout(r, 100));
  try {
    const kernelPing = await inNs('ping', '-c', '3', '-W', '5', '10.0.0.11');
    assert.equal(kernelPing.status, 0, `${kernelPing.output}\nuplink ${JSON.stringify(uplink!.endpoint.counters)} drops ${JSON.stringify(uplink!.drops())} port ${JSON.stringify(lab!.externalPort?.drops)}\n${JSON.stringify(lab!.switch.ports(), null, 1)}`);
    assert.match(kernelPing.output, /3 received/);
    assert.match(kernelPing.output, /time=/);
    assert.match(await ok('a', 'ping -c 3 -W 5 10.0.0.99'), /3 packets received/);
  } finally {
    await Promise.race([tsharkDone, new Promise((r) => setTimeout(r, 20_000))]);
    tshark.kill();
  }
  const rows = captured.trim().split('\n').map((line) => line.split('\t'));
  assert.ok(rows.length >= 12, `tshark saw ${rows.length} datagrams:\n${captured}\n${tsharkErr}`);
  for (const [, vni, flags] of rows) {
    assert.equal(Number(vni), VNI, captured);
    assert.equal(Number(flags) & 0x0800, 0x0800, `the I flag: ${flags}`);
  }
  const sources = new Set(rows.map((r) => r[0]!.split(',')[0])); // outer first, then an inner IPv4 header's
  assert.deepEqual([...sources].sort(), [HOST_ADDRESS, NS_ADDRESS].sort(), 'datagrams both ways');
  const learned = uplink!.endpoint.learnedMacs();
  assert.ok(learned.some((l) => l.peer === `${NS_ADDRESS}:4789`), `the kernel's MAC learned against its VTEP: ${JSON.stringify(learned)}`);
  assert.deepEqual(uplink!.drops(), {});
});

test('a datagram from an address that is not the peer is dropped and counted (the allowlist)', { skip }, async () => {
  // A second address on the namespace's veth: not in the peer list.
  ip('-n', NS, 'addr', 'add', `${NET}.3/29`, 'dev', VETH_NS);
  const before = uplink!.drops()['uplink-unknown-peer'] ?? 0;
  const script = `const s=require('dgram').createSocket('udp4');s.bind(0,'${NET}.3',()=>{const b=Buffer.alloc(8+60);b[0]=8;b[4]=${VNI >> 16};b[5]=${(VNI >> 8) & 0xff};b[6]=${VNI & 0xff};b.fill(0xff,8,14);b[14]=2;s.send(b,4789,'${HOST_ADDRESS}',()=>s.close())})`;
  const sent = await inNs(process.execPath, '-e', script);
  assert.equal(sent.status, 0, sent.output);
  for (let i = 0; i < 50 && (uplink!.drops()['uplink-unknown-peer'] ?? 0) === before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(uplink!.drops()['uplink-unknown-peer'], before + 1);
});
