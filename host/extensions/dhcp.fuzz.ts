// Fuzz targets for the DHCP server, played as a hostile client: random bytes
// and well-formed client messages mutated (cut, bytes flipped, option
// lengths lied about, overload set, sizes up to a jumbo frame).
//   - dhcp.parse: locateDhcp/parseDhcp return a message or a problem, never
//     throw; a parsed message is in range (6-byte chaddr, a type 1..8).
//   - dhcp.server: frames into a switch with the server: no exception, the
//     switch's counters add up, every frame to port 67 the parser refuses is
//     dropped as dhcp-malformed, and every reply the server sends parses as a
//     BOOTREPLY OFFER/ACK/NAK to the client's MAC or broadcast, inside the subnet.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import type { Frame } from '../../emulator/net/frame.ts';
import { Switch } from '../switch.ts';
import { FakeClock } from '../clock.ts';
import { DhcpServerExtension } from './dhcp-server.ts';
import { DhcpType, locateDhcp, parseDhcp } from './dhcp-message.ts';
import { MacLearningForwarder } from './mac-learning.ts';

const CLIENT_MACS = [Uint8Array.of(2, 0, 0, 0, 0, 1), Uint8Array.of(2, 0, 0, 0, 0, 2), Uint8Array.of(6, 0, 0, 0, 0, 3)];

/** A client message, well-formed, then maybe damaged. */
function clientFrame(rng: Rng): Uint8Array {
  const chaddr = rng.pick(CLIENT_MACS);
  const options: number[] = [99, 130, 83, 99];
  if (rng.chance(0.85)) options.push(53, 1, rng.pick([1, 1, 3, 3, 3, 4, 7, 8, rng.int(256)]));
  for (let k = rng.range(0, 6); k > 0; k--) {
    switch (rng.int(6)) {
      case 0:
        options.push(53, 1, rng.range(0, 10));
        break;
      case 1:
        options.push(50, 4, 10, 0, 1, rng.pick([0, 1, 10, 100, 101, 102, 200, 255]));
        break;
      case 2:
        options.push(54, 4, 10, 0, 1, rng.pick([1, 2]));
        break;
      case 3:
        options.push(52, 1, rng.range(0, 4));
        break;
      case 4:
        options.push(0);
        break;
      default: {
        // Mostly honest lengths; sometimes a lie.
        const len = rng.edgy(8) & 0xff;
        const code = rng.pick([12, 55, 61, 57, 60, rng.int(256)]);
        options.push(code, len, ...rng.bytes(rng.chance(0.8) ? len : Math.min(len, rng.int(300))));
      }
    }
  }
  if (rng.chance(0.8)) options.push(255);
  const bootp = new Uint8Array(236 + options.length + (rng.chance(0.1) ? rng.int(9000) : 0));
  bootp[0] = rng.chance(0.9) ? 1 : rng.int(4);
  bootp[1] = rng.chance(0.95) ? 1 : rng.int(4);
  bootp[2] = rng.chance(0.95) ? 6 : rng.int(20);
  bootp.set(rng.bytes(4), 4);
  if (rng.chance(0.3)) bootp[10] = 0x80;
  if (rng.chance(0.2)) bootp.set([10, 0, 1, rng.int(256)], 12);
  if (rng.chance(0.05)) bootp.set([10, 0, 1, 5], 24);
  bootp.set(chaddr, 28);
  if (rng.chance(0.3)) bootp.set(rng.bytes(64 + 128), 44);
  bootp.set(options, 236);
  const data = new Uint8Array(14 + 28 + bootp.length);
  data.fill(0xff, 0, 6);
  data.set(chaddr, 6);
  data[12] = 0x08;
  data[14] = 0x45;
  const dv = new DataView(data.buffer);
  dv.setUint16(16, Math.min(0xffff, 28 + bootp.length));
  data[23] = 17;
  data.set(rng.chance(0.8) ? [255, 255, 255, 255] : [10, 0, 1, 1], 30);
  dv.setUint16(34, 68);
  dv.setUint16(36, 67);
  dv.setUint16(38, Math.min(0xffff, 8 + bootp.length));
  data.set(bootp, 42);
  return damage(rng, data);
}

function damage(rng: Rng, data: Uint8Array): Uint8Array {
  let out = data;
  for (let n = rng.chance(0.7) ? 0 : rng.range(1, 4); n > 0; n--) {
    switch (rng.int(4)) {
      case 0:
        out = out.slice(0, rng.int(out.length + 1));
        break;
      case 1:
        if (out.length) out[rng.int(out.length)] = rng.edgy(8);
        break;
      case 2:
        // Header fields that gate parsing: IHL, total and UDP length, fragment bits.
        if (out.length > 40) out[rng.pick([14, 16, 17, 20, 38, 39])] = rng.edgy(8);
        break;
      default: {
        const grown = new Uint8Array(out.length + rng.int(64));
        grown.set(out);
        out = grown;
      }
    }
  }
  return out;
}

function parseCase(rng: Rng): void {
  const data = rng.chance(0.2) ? rng.bytes(rng.int(600)) : clientFrame(rng);
  const where = locateDhcp(data);
  if (where === null || typeof where === 'string') return;
  if (where.payload + where.payloadLength > data.length) throw new Error('payload past the frame');
  const m = parseDhcp(data, where.payload, where.payloadLength);
  if (typeof m === 'string') return;
  if (m.chaddr.length !== 6) throw new Error('chaddr length');
  if (!(m.type >= 1 && m.type <= 8)) throw new Error(`type ${m.type}`);
}

async function serverCase(rng: Rng): Promise<void> {
  const clock = new FakeClock(0);
  const server = new DhcpServerExtension({
    serverIp: '10.0.1.1',
    subnet: '10.0.1.0/24',
    gateway: '10.0.1.254',
    reservations: [{ mac: '02:00:00:00:00:01', ip: '10.0.1.10' }],
    pool: { from: '10.0.1.100', to: '10.0.1.102' },
  });
  const sw = new Switch({ timers: clock, extensions: [server, new MacLearningForwarder()] });
  const replies: Frame[] = [];
  const port = await sw.createPort({ type: 'synthetic' });
  await sw.createNic(port.id, { type: 'synthetic', mac: CLIENT_MACS[0]!, mtu: 9000, sink: { deliver: (f) => replies.push(...f) } });
  await sw.connectNic(port.id, 0);
  for (let k = rng.range(1, 12); k > 0; k--) {
    const data = clientFrame(rng);
    const where = locateDhcp(data);
    const bad = typeof where === 'string' || (where !== null && typeof parseDhcp(data, where.payload, where.payloadLength) === 'string');
    const before = sw.counters(port.id).drops['dhcp-malformed'] ?? 0;
    sw.ingress(port.id, 0, [{ data }]);
    const after = sw.counters(port.id).drops['dhcp-malformed'] ?? 0;
    // The port's MTU check may drop a frame before the server sees it.
    const validated = (sw.counters(port.id).drops['oversize'] ?? 0) + (sw.counters(port.id).drops['runt'] ?? 0);
    if (bad && after !== before + 1 && validated === 0) throw new Error('a malformed message was not dropped as dhcp-malformed');
    if (!bad && after !== before) throw new Error('a well-formed frame was dropped as dhcp-malformed');
    clock.advance(rng.pick([0, 1000, 60_000, 4_000_000]));
  }
  const c = sw.counters();
  if (c.ingressFrames !== c.droppedFrames + c.forwardedFrames + c.heldFrames) throw new Error('counters do not add up');
  for (const r of replies) {
    const where = locateDhcp(r.data);
    // Replies go to port 68: locateDhcp (port 67 only) must not see them; parse the BOOTP directly.
    if (where !== null) throw new Error('a reply addressed to the server port');
    const m = parseDhcp(r.data, 42, r.data.length - 42);
    if (typeof m === 'string') throw new Error(`a reply the parser refuses: ${m}`);
    if (m.op !== 2 || ![DhcpType.offer, DhcpType.ack, DhcpType.nak].includes(m.type as 2 | 5 | 6)) throw new Error(`reply op ${m.op} type ${m.type}`);
    const dst = r.data.subarray(0, 6);
    const toClient = dst.every((b, i) => b === m.chaddr[i]) || dst.every((b) => b === 0xff);
    if (!toClient) throw new Error('a reply to neither the client nor broadcast');
    if (m.yiaddr !== 0 && (m.yiaddr >>> 8) !== ((10 << 16) | (0 << 8) | 1)) throw new Error('an address outside the subnet');
  }
  const leased = server.leaseTable().map((l) => l.ip);
  if (new Set(leased).size !== leased.length) throw new Error(`one address leased twice: ${leased}`);
}

export const targets: FuzzTarget[] = [
  { name: 'dhcp.parse', quick: 3000, run: parseCase },
  { name: 'dhcp.server', quick: 300, run: serverCase },
];
