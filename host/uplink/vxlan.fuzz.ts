// Fuzz targets for the VXLAN uplink, played as a hostile underlay: datagrams
// of any length, flags, VNI and inner frame, from peers and from strangers,
// into the endpoint logic and on through the external port into a switch.
//   vxlan.decode   every datagram is either accepted (then it really is a
//                  well-formed frame for our VNI from a configured peer) or
//                  dropped with a catalogued reason; counters add up; the
//                  learning table stays bounded; nothing throws.
//   vxlan.uplink   the same datagrams through ExternalPort into a switch with
//                  a VM port: no frame reaches the VM with the VM's own source
//                  MAC, nothing throws, every drop has an uplink reason.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { UPLINK_DROP_REASONS } from '../drop-reasons.ts';
import { sumValues } from '../counters.ts';
import { Switch } from '../switch.ts';
import { SwitchPortAttachment } from '../attach.ts';
import { ScriptedNic, VirtualClock, mac } from '../testing.ts';
import { ExternalPort } from './external-port.ts';
import type { Uplink } from './uplink.ts';
import { VxlanEndpoint, readVni, vxlanHeader, type UdpEndpoint } from './vxlan.ts';

const LOCAL: UdpEndpoint = { address: '10.9.0.1', port: 4789, family: 4 };
const PEERS: UdpEndpoint[] = [
  { address: '10.9.0.2', port: 4789, family: 4 },
  { address: '10.9.0.3', port: 4789, family: 4 },
];
const SOURCES = ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.2%eth0', '::ffff:10.9.0.2', 'garbage', '', '10.9.0.33'];
const VM_MAC = mac(1);
const REASONS = new Set<string>(Object.values(UPLINK_DROP_REASONS));

function randomDatagram(rng: Rng): Uint8Array {
  const shape = rng.int(6);
  const length = shape === 0 ? rng.int(24) : shape === 1 ? rng.range(1400, 1600) : shape === 2 ? rng.range(8000, 9100) : rng.range(22, 200);
  const data = rng.bytes(length);
  if (rng.chance(0.7) && length >= 8) {
    data.set(vxlanHeader(rng.chance(0.8) ? 42 : rng.edgy(24) & 0xffffff));
    if (rng.chance(0.2)) data[0] = rng.u32() & 0xff;
  }
  // Inner source MAC: the VM's own, a unicast, or whatever the bytes say.
  if (length >= 20 && rng.chance(0.3)) data.set(rng.chance(0.5) ? VM_MAC : mac(rng.int(8) + 2), 14);
  return data;
}

function checkEndpoint(ep: VxlanEndpoint): void {
  // Send failures are the transmit side's; the rest are datagrams received.
  const dropped = sumValues(ep.drops as Record<string, number>) - (ep.drops[UPLINK_DROP_REASONS.sendFailed] ?? 0);
  if (ep.counters.rxFrames + dropped !== ep.counters.rxDatagrams) throw new Error(`counters: ${JSON.stringify(ep.counters)} drops ${JSON.stringify(ep.drops)}`);
  for (const reason of Object.keys(ep.drops)) if (!REASONS.has(reason)) throw new Error(`uncatalogued reason ${reason}`);
}

const decode: FuzzTarget = {
  name: 'vxlan.decode',
  quick: 300,
  run(rng) {
    const clock = new VirtualClock();
    const ep = new VxlanEndpoint({ vni: 42, local: LOCAL, peers: PEERS, maxLearned: 16, agingMs: 1000 }, () => rng.chance(0.9), clock.now);
    for (let i = 0; i < 40; i++) {
      clock.advance(rng.int(100));
      const datagram = randomDatagram(rng);
      const source = rng.pick(SOURCES);
      const frame = ep.receive(datagram, source, rng.chance(0.5) ? 4789 : rng.range(1, 65535));
      if (frame) {
        if (!PEERS.some((p) => p.address === source.split('%')[0])) throw new Error(`accepted from ${source}`);
        if ((datagram[0]! & 0x08) === 0 || readVni(datagram) !== 42) throw new Error('accepted a bad header');
        if (frame.data.length < 14 || frame.data.length > ep.mtu + 18 || frame.data[6]! & 1) throw new Error('accepted a bad inner frame');
      }
      if (rng.chance(0.3)) ep.send([{ data: rng.bytes(rng.range(14, 100)) }]);
    }
    checkEndpoint(ep);
    if (ep.learnedMacs().length > 16) throw new Error('learning table unbounded');
  },
};

/** Feeds a VxlanEndpoint's accepted frames to the port, as the socket uplink does. */
class EndpointUplink implements Uplink {
  readonly description = 'fuzz';
  readonly isUp = true;
  receiver: FrameSink | null = null;
  constructor(readonly ep: VxlanEndpoint) {}
  get mtu(): number {
    return this.ep.mtu;
  }
  send(frames: readonly Frame[]): void {
    this.ep.send(frames);
  }
  setReceiver(sink: FrameSink | null): void {
    this.receiver = sink;
  }
  onStateChange(): () => void {
    return () => undefined;
  }
  drops(): Record<string, number> {
    return { ...this.ep.drops } as Record<string, number>;
  }
  async close(): Promise<void> {}
}

const uplink: FuzzTarget = {
  name: 'vxlan.uplink',
  quick: 100,
  async run(rng) {
    const sw = new Switch();
    const vm = new ScriptedNic('virtio', VM_MAC, true);
    const attachment = await SwitchPortAttachment.attach(sw, vm, { vmName: 'a', index: 0 });
    await attachment.settled();
    const ep = new VxlanEndpoint({ vni: 42, local: LOCAL, peers: PEERS }, () => true);
    const link = new EndpointUplink(ep);
    const port = await ExternalPort.attach(sw, link);
    for (let i = 0; i < 30; i++) {
      const frame = ep.receive(randomDatagram(rng), rng.pick(SOURCES), 4789);
      if (frame) link.receiver!.deliver([frame]);
      if (rng.chance(0.2)) vm.send({ data: rng.bytes(rng.range(14, 1600)) });
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (const frame of vm.received) {
      if (frame.data[6] === VM_MAC[0] && frame.data[11] === VM_MAC[5] && frame.data[10] === VM_MAC[4] && frame.data[7] === 0 && frame.data[8] === 0 && frame.data[9] === 0) {
        throw new Error('a remote frame with the VM\'s own source MAC reached it');
      }
    }
    checkEndpoint(ep);
    for (const reason of Object.keys(port.drops)) if (!REASONS.has(reason)) throw new Error(`uncatalogued reason ${reason}`);
    await port.detach();
    await attachment.detach();
    if (sw.ports().length) throw new Error('ports left after detach');
  },
};

export const targets: FuzzTarget[] = [decode, uplink];
