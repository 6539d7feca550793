// The topology view's numbers, with scripted guests (no emulator, no DOM):
// one entry per NIC and link edge of the picture, read from the Lab's port
// rows and the link ports' counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ethFrame, BROADCAST } from '../../host/testing.ts';
import { parseLabFile } from '../../host/lab/file/index.ts';
import { LabTopology } from '../../host/lab/topology.ts';
import { scriptedLaunch } from '../../host/lab/testing.ts';
import { topologyGraph } from '../../host/lab/graph/index.ts';
import { edgeCounters } from './topology-view.ts';

const LAB = `
switches: { left: {}, right: {} }
links:
  wan: { between: [left, right] }
vms:
  a:
    nics: [{ model: e1000, switch: left, addresses: [10.0.5.1/24] }]
  b:
    nics: [{ model: virtio, switch: right, addresses: [10.0.5.2/24] }]
`;

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

test('edgeCounters: every NIC and link edge of the graph; zero before start; a broadcast counted at both link ends and both NICs', async () => {
  const plan = parseLabFile(LAB);
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(plan, { launch, connectTimeoutMs: 500 });
  try {
    const edges = topologyGraph(plan).edges.map((edge) => edge.id);
    const before = edgeCounters(topo);
    assert.deepEqual([...before.keys()].sort(), [...edges].sort());
    for (const [id, c] of before) assert.deepEqual([c.rx, c.tx], [0, 0], id);
    await topo.start();
    const a = guests.get('a')!.nics[0]!;
    a.send(ethFrame(BROADCAST, a.mac, { seq: 1 }));
    await settle();
    assert.equal(guests.get('b')!.nics[0]!.received.length, 1);
    const after = edgeCounters(topo);
    // a's port took the frame in; b's port sent it out; the link sent it on left and took it in on right.
    assert.deepEqual(pick(after.get('nic:a.eth0')!), { rx: 1, tx: 0 });
    assert.deepEqual(pick(after.get('nic:b.eth0')!), { rx: 0, tx: 1 });
    assert.deepEqual(pick(after.get('link:wan')!), { rx: 1, tx: 1 });
    assert.equal(after.get('link:wan')!.text, 'left: rx 0 tx 1 · right: rx 1 tx 0');
    assert.equal(after.get('nic:a.eth0')!.text, 'rx 1 · tx 0');
    // A restarted VM has a new port: the edge shows the new port's counters.
    await topo.lab.stop('a');
    await topo.lab.start('a');
    assert.deepEqual(pick(edgeCounters(topo).get('nic:a.eth0')!), { rx: 0, tx: 0 });
  } finally {
    await topo.close();
  }
});

function pick(c: { rx: number; tx: number }): { rx: number; tx: number } {
  return { rx: c.rx, tx: c.tx };
}
