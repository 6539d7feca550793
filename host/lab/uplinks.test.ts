// The Lab with an uplink (a recording fake transport) and scripted guests:
// the external port, the VM MTU set at start and reported, the lab id handed
// to the launcher, close() running the stop order and closing the uplink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { ScriptedNic, mac } from '../testing.ts';
import type { Uplink } from '../uplink/uplink.ts';
import { Lab } from './lab.ts';
import { LabError } from './errors.ts';
import type { GuestLaunch, LabGuest } from './guest.ts';
import { labIdForFile } from './uplinks.ts';

class RecordingUplink implements Uplink {
  readonly description = 'recording';
  readonly mtu = 1450;
  isUp = true;
  closed = false;
  readonly sent: Frame[] = [];
  private readonly listeners = new Set<(up: boolean) => void>();
  send(frames: readonly Frame[]): void {
    this.sent.push(...frames);
  }
  setReceiver(sink: FrameSink | null): void {
    void sink;
  }
  onStateChange(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  drops(): Record<string, number> {
    return {};
  }
  async close(): Promise<void> {
    this.closed = true;
    this.isUp = false;
    for (const listener of this.listeners) listener(false);
  }
}

/** A guest whose `ip link set ... mtu` changes what its sysfs read reports. */
function guestFor(launch: GuestLaunch, commands: string[]): LabGuest {
  const nics = launch.nics.map((n, i) => new ScriptedNic(n.model, mac(i + 1), true));
  const mtu = nics.map(() => 1500);
  return {
    nics,
    console: { onData: () => () => undefined },
    isStopped: false,
    async exec(command: string) {
      commands.push(command);
      for (const m of command.matchAll(/ip link set dev eth(\d+) mtu (\d+)/g)) mtu[Number(m[1])] = Number(m[2]);
      if (command.startsWith('cat /sys/class/net/')) return { output: nics.map((n, i) => `${mtu[i]}\n${[...n.mac].map((b) => b.toString(16).padStart(2, '0')).join(':')}\n`).join(''), exitCode: 0 };
      return { output: '', exitCode: 0 };
    },
    async stop() {
      for (const nic of nics) nic.destroy();
    },
  };
}

function labWith(options: { vmMtu?: number | null; labId?: string } = {}) {
  const commands: string[] = [];
  const launches: GuestLaunch[] = [];
  const lab = new Lab({
    connectTimeoutMs: 1000,
    ...options,
    launch: async (launch) => {
      launches.push(launch);
      return guestFor(launch, commands);
    },
  });
  const oids: string[] = [];
  lab.on('oid', (e) => oids.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}`));
  return { lab, commands, launches, oids };
}

test('attachUplink: the external port first; VMs get the uplink MTU at start, reported as NIC_UPDATED; close stops it and closes the uplink', async () => {
  const { lab, commands, launches, oids } = labWith({ labId: 'lab-one' });
  const uplink = new RecordingUplink();
  const port = await lab.attachUplink(uplink);
  assert.equal(lab.externalPort, port);
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1', 'NIC_CONNECT:1']);
  await assert.rejects(lab.attachUplink(new RecordingUplink()), (e: Error) => e instanceof LabError && e.code === 'uplink-exists');
  await lab.start('a', { nics: ['virtio', 'e1000'] });
  assert.equal(launches[0]!.labId, 'lab-one');
  assert.equal(commands[0], 'ip link set dev eth0 mtu 1450 && ip link set dev eth1 mtu 1450');
  const vmPorts = lab.vm('a')!.portIds;
  for (const portId of vmPorts) assert.equal(lab.switch.nic(portId, 0)?.mtu, 1450);
  assert.ok(oids.includes(`NIC_UPDATED:${vmPorts[0]}`));
  await lab.close();
  assert.ok(uplink.closed);
  assert.deepEqual(oids.slice(-4), ['NIC_DISCONNECT:1', 'NIC_DELETE:1', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
  assert.equal(lab.switch.ports().length, 0);
});

test('vmMtu: a number overrides the uplink MTU, null leaves the guest alone; no uplink, no MTU command', async () => {
  const own = labWith({ vmMtu: 1400 });
  await own.lab.attachUplink(new RecordingUplink());
  await own.lab.start('a', { nics: ['virtio'] });
  assert.equal(own.commands[0], 'ip link set dev eth0 mtu 1400');
  await own.lab.close();
  const left = labWith({ vmMtu: null });
  await left.lab.attachUplink(new RecordingUplink());
  await left.lab.start('a', { nics: ['virtio'] });
  assert.ok(!left.commands.some((c) => c.includes(' mtu ')));
  await left.lab.close();
  const plain = labWith();
  await plain.lab.start('a', { nics: ['virtio'] });
  assert.ok(!plain.commands.some((c) => c.includes(' mtu ')));
  assert.match(plain.launches[0]!.labId!, /^[0-9a-f]{16}$/, 'random unless given');
  assert.notEqual(plain.lab.labId, labWith().lab.labId);
  assert.equal(labIdForFile('/labs/a.yaml'), labIdForFile('/labs/a.yaml'));
  await plain.lab.close();
});
