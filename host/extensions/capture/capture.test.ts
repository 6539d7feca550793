import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Switch } from '../../switch.ts';
import { MacLearningForwarder } from '../mac-learning.ts';
import { AclFilter } from '../acl.ts';
import { PcapngCapture } from './capture.ts';
import { captureToFile } from './file.ts';
import { BROADCAST, VirtualClock, attachVm, ethFrame } from '../../testing.ts';

const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
const noTshark = tshark.status !== 0 ? 'tshark is not installed (apt-get install tshark)' : false;

function readBack(path: string, fields: string[]): string[][] {
  const result = spawnSync('tshark', ['-r', path, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  assert.equal(result.status, 0, `tshark failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').map((line) => line.split('|'));
}

test('a whole-switch capture reads back in tshark: one interface per port, frames inbound and outbound', { skip: noTshark }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-capture-'));
  try {
    const path = join(dir, 'switch.pcapng');
    const file = captureToFile(path);
    const clock = new VirtualClock(1_700_000_000_000);
    const sw = new Switch({
      clock: clock.now,
      extensions: [file.capture, new AclFilter({ rules: [{ name: 'no-arp', action: 'deny', ethertype: 0x0806 }] }), new MacLearningForwarder()],
    });
    const a = await attachVm(sw, 1);
    const b = await attachVm(sw, 2);
    sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac, { length: 100 })]);
    clock.advance(1.5);
    sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac, { length: 200 }), ethFrame(a.mac, b.mac, { length: 60, ethertype: 0x0806 })]);
    file.close();

    const rows = readBack(path, ['frame.interface_id', 'frame.interface_name', 'frame.len', 'eth.src', 'eth.dst', 'frame.time_epoch', 'frame.p2p_dir']);
    // a's broadcast in on port 1 and out on port 2; b's unicast in on 2 and out on 1; the ARP in on 2 only (the ACL drops it).
    assert.deepEqual(
      rows.map(([id, name, len, src, dst]) => [id, name, len, src, dst]),
      [
        ['0', 'port1', '100', '02:00:00:00:00:01', 'ff:ff:ff:ff:ff:ff'],
        ['1', 'port2', '100', '02:00:00:00:00:01', 'ff:ff:ff:ff:ff:ff'],
        ['1', 'port2', '200', '02:00:00:00:00:02', '02:00:00:00:00:01'],
        ['1', 'port2', '60', '02:00:00:00:00:02', '02:00:00:00:00:01'],
        ['0', 'port1', '200', '02:00:00:00:00:02', '02:00:00:00:00:01'],
      ],
    );
    assert.equal(rows[0]![5], '1700000000.000000000');
    assert.equal(rows[2]![5], '1700000000.001500000');
    const capinfos = spawnSync('tshark', ['-r', path, '-q', '-z', 'io,stat,0'], { encoding: 'utf8' });
    assert.equal(capinfos.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a per-port capture records only that port (in memory, bytes readable by tshark)', { skip: noTshark }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-capture-'));
  try {
    const sw = new Switch({ extensions: [new MacLearningForwarder()] });
    const a = await attachVm(sw, 1);
    const b = await attachVm(sw, 2);
    const c = await attachVm(sw, 3);
    const capture = new PcapngCapture({ ports: [c.portId] });
    sw.addExtension(capture);
    sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac), ethFrame(BROADCAST, a.mac, { length: 99 })]);
    sw.ingress(c.portId, 0, [ethFrame(a.mac, c.mac, { length: 77 })]);
    capture.enabled = false;
    sw.ingress(c.portId, 0, [ethFrame(a.mac, c.mac, { length: 88 })]);
    const path = join(dir, 'port.pcapng');
    const bytes = capture.bytes();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, bytes);
    assert.equal(readFileSync(path).length, bytes.length);
    const rows = readBack(path, ['frame.interface_name', 'frame.len']);
    // a's first frame floods (b unknown) to b and c: c sees it; then the broadcast; then c's own frame.
    assert.deepEqual(rows, [['port3', '64'], ['port3', '99'], ['port3', '77']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
