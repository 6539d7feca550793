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

test('lab file uplinks: each switch gets its own external port; a NIC takes the MTU of its own switch; no opener, no run', async () => {
  const { parseLabFile } = await import('./file/index.ts');
  const { LabTopology } = await import('./topology.ts');
  const plan = parseLabFile(`
switches:
  lan1: { uplinks: [{ type: vxlan, vni: 42, port: 14789, peers: [127.0.0.2:4789] }] }
  lan2: {}
vms:
  b:
    forwarding: true
    nics:
      - { model: virtio, switch: lan2, addresses: [10.0.2.1/24] }
      - { model: e1000, switch: lan1, addresses: [10.0.1.1/24] }
`);
  await assert.rejects(LabTopology.create(plan, { launch: async (launch) => guestFor(launch, []) }), (e: Error) => e instanceof LabError && e.code === 'uplink-unavailable');
  const commands: string[] = [];
  const opened: { switchName: string; vni: number; uplink: RecordingUplink }[] = [];
  const topo = await LabTopology.create(plan, {
    connectTimeoutMs: 1000,
    launch: async (launch) => guestFor(launch, commands),
    openUplink: async (switchName, config) => {
      const uplink = new RecordingUplink();
      opened.push({ switchName, vni: config.vni, uplink });
      return uplink;
    },
  });
  try {
    assert.deepEqual(opened.map((o) => [o.switchName, o.vni]), [['lan1', 42]]);
    assert.ok(topo.lab.externalPortOf('lan1'));
    assert.equal(topo.lab.externalPortOf('lan2'), undefined);
    assert.equal(topo.switches.get('lan1')!.switch.ports().filter((p) => p.type === 'external').length, 1);
    await topo.start();
    assert.equal(commands[0], 'ip link set dev eth1 mtu 1450', 'only the NIC on the switch with the uplink');
  } finally {
    await topo.close();
  }
  assert.ok(opened[0]!.uplink.closed);
});
