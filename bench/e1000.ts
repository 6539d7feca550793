// e1000 to e1000 over a plain wire: ping RTT and iperf3 TCP throughput with
// the guest's default offloads (TSO, checksum) and with them off in both
// guests, against v86's own virtio-net on the same kind of wire in the same
// run (v86virtio.*; issue 4: RTT <= 1.2x, throughput >= 1x); interrupts per
// received packet on the receiver from /proc/interrupts and the NIC's
// rx_packets. Each round warms a fresh pair of ours up (see
// bench/v86-baseline.ts), measures offloads on and off (order alternating
// by round), stops it,
// then a v86 virtio-net pair: one pair at a time, alternating, so load noise
// hits both. Figures are medians of VMSWITCH_BENCH_RUNS rounds (default 3).
import type { BenchEntry } from './types.ts';
import type { VirtualMachine } from '../emulator/vm.ts';
import { alternateWithV86, median, nicEntries, rttMs, sh, startPair, tcpMibps, type Sample, type WirePair } from './v86-baseline.ts';

/** The receiver's eth0 interrupt count and received packets. */
async function irqAndPackets(vm: VirtualMachine): Promise<{ irqs: number; packets: number }> {
  const out = await sh(vm, 'grep eth0 /proc/interrupts; cat /sys/class/net/eth0/statistics/rx_packets');
  const lines = out.trim().split('\n');
  const irqs = lines[0]!.trim().split(/\s+/).slice(1).filter((w) => /^\d+$/.test(w)).reduce((sum, w) => sum + Number(w), 0);
  return { irqs, packets: Number(lines.at(-1)) };
}

async function measureSetting(pair: WirePair): Promise<Sample & { irqPerPacket: number }> {
  const before = await irqAndPackets(pair.b);
  const mibps = await tcpMibps(pair);
  const after = await irqAndPackets(pair.b);
  const irqPerPacket = (after.irqs - before.irqs) / Math.max(1, after.packets - before.packets);
  return { mibps, rtt: await rttMs(pair), irqPerPacket };
}

async function measureOurs(round: string, offFirst: boolean): Promise<{ on: Sample & { irqPerPacket: number }; off: Sample }> {
  const pair = await startPair('e1000', 'be', '10.9.0');
  try {
    const offloads = (on: boolean) => Promise.all([pair.a, pair.b].map((vm) => sh(vm, `ethtool -K eth0 tso ${on ? 'on' : 'off'} gso ${on ? 'on' : 'off'} tx ${on ? 'on' : 'off'}`)));
    // The guest keeps getting faster for a while after the warm-up, so the order of the two settings alternates by round.
    // ethtool changes mid-connection are not measured: each setting gets its own iperf3 run.
    let on: Sample & { irqPerPacket: number }, off: Sample;
    if (offFirst) {
      await offloads(false);
      off = await measureSetting(pair);
      await offloads(true);
      on = await measureSetting(pair);
    } else {
      on = await measureSetting(pair);
      await offloads(false);
      off = await measureSetting(pair);
    }
    console.log(
      `e1000 ${round}: offloads on ${on.mibps.toFixed(2)} MiB/s rtt ${on.rtt.toFixed(2)} ms ${on.irqPerPacket.toFixed(3)} irq/rx packet; off ${off.mibps.toFixed(2)} MiB/s rtt ${off.rtt.toFixed(2)} ms`,
    );
    return { on, off };
  } finally {
    await pair.stop();
  }
}

export async function run(): Promise<BenchEntry[]> {
  const { on, off } = await alternateWithV86(measureOurs);
  return [...nicEntries('e1000', on, off), { name: 'e1000.irq_per_rx_packet', value: median(on.map((s) => s.irqPerPacket)), unit: 'irq/packet' }];
}
