// Fuzz target for the guards' classifier, played as a rogue guest hiding a
// router advertisement or a DHCP offer: real ones built byte by byte, then
// tagged, wrapped in IPv6 extension headers, fragmented, cut and flipped.
// Invariants: guardClass never throws and returns a known class; an intact
// RA/redirect/offer is always found, whatever tags and (first-fragment)
// extension headers are in front of it; and a guarded port never lets a
// frame the classifier flags through the DhcpGuard/RouterGuard pair.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import { Switch } from '../switch.ts';
import { DhcpGuard, GuardClass, RouterGuard, guardClass } from './guards.ts';

const CLASSES = new Set<number>(Object.values(GuardClass));

function build(rng: Rng): { data: Uint8Array; expect: number | null } {
  const kind = rng.int(4);
  const tags: number[] = [];
  for (let k = rng.int(3); k > 0; k--) tags.push(rng.pick([0x8100, 0x88a8, 0x9100]), 0, rng.int(4095) + 1);
  const out: number[] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1];
  for (let t = 0; t < tags.length; t += 3) out.push(tags[t]! >> 8, tags[t]! & 0xff, tags[t + 1]!, tags[t + 2]! & 0xff);
  let expect: number | null;
  if (kind < 2) {
    // IPv4: a DHCP offer or an ICMP redirect.
    out.push(0x08, 0x00);
    const icmp = kind === 1;
    out.push(0x45, 0, 0, 40, 0, 0, 0, 0, 64, icmp ? 1 : 17, 0, 0, 10, 0, 0, 66, 255, 255, 255, 255);
    if (icmp) out.push(rng.pick([5, 9]), 0, 0, 0, 0, 0, 0, 0);
    else out.push(0, 67, 0, 68, 0, 8, 0, 0);
    expect = icmp ? GuardClass.router4 : GuardClass.dhcp4Server;
  } else {
    out.push(0x86, 0xdd);
    const exts: number[][] = [];
    for (let k = rng.int(4); k > 0; k--) exts.push([rng.pick([0, 43, 60, 44, 51])]);
    const upper = kind === 2 ? 58 : 17;
    const chain = [...exts.map((e) => e[0]!), upper];
    out.push(0x60, 0, 0, 0, 0, 64, chain[0]!, 64, ...new Array(32).fill(0));
    for (let k = 0; k < exts.length; k++) {
      const type = exts[k]![0]!;
      const next = chain[k + 1]!;
      if (type === 51) out.push(next, 2, 0, 0, ...new Array(12).fill(0));
      else if (type === 44) out.push(next, 0, 0, 0, 0, 0, 0, 1); // first fragment, more to come
      else out.push(next, 0, 0, 0, 0, 0, 0, 0);
    }
    if (upper === 58) out.push(rng.pick([134, 137]), 0, 0, 0, 0, 0, 0, 0);
    else out.push(0x02, 0x23, 0x02, 0x22, 0, 12, 0, 0, rng.pick([2, 7, 10, 13]), 0, 0, 0);
    expect = upper === 58 ? GuardClass.router6 : GuardClass.dhcp6Server;
  }
  const data = Uint8Array.from(out);
  // More than two tags hide the packet from the classifier by design (the switch refuses them at a port anyway).
  if (tags.length > 6) expect = null;
  return { data, expect };
}

function damage(rng: Rng, data: Uint8Array): Uint8Array {
  let d = data;
  for (let n = rng.range(1, 3); n > 0; n--) {
    if (rng.chance(0.5)) d = d.slice(0, rng.int(d.length + 1));
    else if (d.length) d[rng.int(d.length)] = rng.edgy(8);
  }
  return d;
}

async function run(rng: Rng): Promise<void> {
  const { data, expect } = build(rng);
  const intact = rng.chance(0.5);
  const frame = intact ? data : damage(rng, data.slice());
  const cls = guardClass(frame);
  if (!CLASSES.has(cls)) throw new Error(`unknown class ${cls}`);
  if (intact && expect !== null && cls !== expect) throw new Error(`expected class ${expect}, got ${cls}`);
  if (rng.chance(0.1)) {
    const sw = new Switch({ extensions: [new DhcpGuard(), new RouterGuard()] });
    const port = await sw.createPort({ type: 'emulated' });
    await sw.createNic(port.id, { type: 'emulated', mac: Uint8Array.of(2, 0, 0, 0, 0, 1), mtu: 9000, sink: { deliver() {} } });
    await sw.connectNic(port.id, 0);
    const other = await sw.createPort({ type: 'synthetic' });
    let leaked = 0;
    await sw.createNic(other.id, { type: 'synthetic', mac: Uint8Array.of(2, 0, 0, 0, 0, 2), mtu: 9000, sink: { deliver: (f) => (leaked += f.length) } });
    await sw.connectNic(other.id, 0);
    sw.ingress(port.id, 0, [{ data: frame }]);
    if (cls !== GuardClass.none && leaked !== 0) throw new Error(`class ${cls} leaked through the guards`);
  }
}

export const targets: FuzzTarget[] = [{ name: 'guards.classify', quick: 3000, run }];
