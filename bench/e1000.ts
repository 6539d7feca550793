// e1000 to e1000 over a plain wire: ping RTT and iperf3 TCP throughput with
// the guest's default offloads (TSO, checksum) and, as the in-run baseline,
// with them off in both guests; interrupts per received packet on the
// receiver from /proc/interrupts and the NIC's rx_packets. Medians of
// VMSWITCH_BENCH_RUNS runs (default 3). v86's own virtio-net (v86virtio.*) is
// the issue's other baseline: the runtime cannot give a VM v86's NIC yet, so
// it is not measured here.
import type { BenchEntry } from './types.ts';
import { VirtualMachine } from '../emulator/vm.ts';
import { connectWire } from '../emulator/net/wire.ts';
import { ensureImage } from '../guest-images/index.ts';

const RUNS = Math.max(3, Number(process.env.VMSWITCH_BENCH_RUNS ?? 3));
const SECONDS = Number(process.env.VMSWITCH_BENCH_SECONDS ?? 10);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function sh(vm: VirtualMachine, command: string, timeoutMs = 120_000): Promise<string> {
  const result = await vm.exec(command, { timeoutMs });
  if (result.exitCode !== 0) throw new Error(`${command} failed (${result.exitCode}): ${result.output}`);
  return result.output;
}

/** The receiver's eth0 interrupt count and received packets. */
async function irqAndPackets(vm: VirtualMachine): Promise<{ irqs: number; packets: number }> {
  const out = await sh(vm, "grep eth0 /proc/interrupts; cat /sys/class/net/eth0/statistics/rx_packets");
  const lines = out.trim().split('\n');
  const irqs = lines[0]!.trim().split(/\s+/).slice(1).filter((w) => /^\d+$/.test(w)).reduce((sum, w) => sum + Number(w), 0);
  return { irqs, packets: Number(lines.at(-1)) };
}

async function tcpMibps(a: VirtualMachine): Promise<number> {
  const out = await sh(a, `iperf3 -c 10.9.0.2 -t ${SECONDS} -J`, (SECONDS + 60) * 1000);
  const report = JSON.parse(out.slice(out.indexOf('{'))) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second / 8 / 1048576;
}

async function rttMs(a: VirtualMachine): Promise<number> {
  const out = await sh(a, 'ping -c 20 -i 0.2 10.9.0.2 | tail -1');
  const match = /= [\d.]+\/([\d.]+)\//.exec(out);
  if (!match) throw new Error(`no ping summary in ${JSON.stringify(out)}`);
  return Number(match[1]);
}

async function measure(a: VirtualMachine, b: VirtualMachine, label: string): Promise<{ mibps: number; rtt: number; irqPerPacket: number }> {
  const rates: number[] = [];
  const rtts: number[] = [];
  const perPacket: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = await irqAndPackets(b);
    rates.push(await tcpMibps(a));
    const after = await irqAndPackets(b);
    perPacket.push((after.irqs - before.irqs) / Math.max(1, after.packets - before.packets));
    rtts.push(await rttMs(a));
    console.log(`${label} ${i + 1}/${RUNS}: ${rates.at(-1)!.toFixed(2)} MiB/s, rtt ${rtts.at(-1)!.toFixed(2)} ms, ${perPacket.at(-1)!.toFixed(3)} irq/rx packet`);
  }
  return { mibps: median(rates), rtt: median(rtts), irqPerPacket: median(perPacket) };
}

export async function run(): Promise<BenchEntry[]> {
  const image = await ensureImage({ log: (line) => console.log(line) });
  const nics = [{ model: 'e1000' as const }];
  const a = await VirtualMachine.start({ name: 'bea', template: true, image, nics, hostname: 'bea', ip: ['10.9.0.1/24'] });
  const b = await VirtualMachine.start({ name: 'beb', template: true, image, nics, hostname: 'beb', ip: ['10.9.0.2/24'] });
  const wire = connectWire(a.nics[0]!, b.nics[0]!);
  try {
    await sh(b, 'iperf3 -s -D');
    await sh(a, 'ping -c 2 -W 5 10.9.0.2');
    const on = await measure(a, b, 'e1000 offloads on');
    for (const vm of [a, b]) await sh(vm, 'ethtool -K eth0 tso off gso off tx off');
    const off = await measure(a, b, 'e1000 offloads off');
    return [
      { name: 'e1000.tcp.nooffload.mibps', value: off.mibps, unit: 'MiB/s' },
      { name: 'e1000.tcp.mibps', value: on.mibps, unit: 'MiB/s', baseline: 'e1000.tcp.nooffload.mibps', ratio: on.mibps / off.mibps },
      { name: 'e1000.rtt.nooffload.ms', value: off.rtt, unit: 'ms' },
      { name: 'e1000.rtt.ms', value: on.rtt, unit: 'ms', baseline: 'e1000.rtt.nooffload.ms', ratio: on.rtt / off.rtt },
      { name: 'e1000.irq_per_rx_packet', value: on.irqPerPacket, unit: 'irq/packet' },
    ];
  } finally {
    wire.disconnect();
    await a.stop();
    await b.stop();
  }
}
