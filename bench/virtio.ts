// virtio-net to virtio-net over a plain wire: iperf3 TCP throughput and ping
// RTT, with the offloads on and, as the in-run baseline, with them turned off
// in both guests (ethtool -K tso off gso off tx off). Medians of
// VMSWITCH_BENCH_RUNS runs (default 3). v86's own virtio-net is the issue's
// other baseline (v86virtio.*): the runtime has no way yet to give a VM v86's
// NIC instead of ours, so it is not measured here.
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

/** iperf3 from a to b, MiB/s received. */
async function tcpMibps(a: VirtualMachine): Promise<number> {
  const out = await sh(a, `iperf3 -c 10.8.0.2 -t ${SECONDS} -J`, (SECONDS + 60) * 1000);
  const report = JSON.parse(out.slice(out.indexOf('{'))) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second / 8 / 1048576;
}

async function rttMs(a: VirtualMachine): Promise<number> {
  const out = await sh(a, 'ping -c 20 -i 0.2 10.8.0.2 | tail -1');
  const match = /= [\d.]+\/([\d.]+)\//.exec(out);
  if (!match) throw new Error(`no ping summary in ${JSON.stringify(out)}`);
  return Number(match[1]);
}

async function measure(a: VirtualMachine, label: string): Promise<{ mibps: number; rtt: number }> {
  const rates: number[] = [];
  const rtts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rates.push(await tcpMibps(a));
    rtts.push(await rttMs(a));
    console.log(`${label} ${i + 1}/${RUNS}: ${rates.at(-1)!.toFixed(2)} MiB/s, rtt ${rtts.at(-1)!.toFixed(2)} ms`);
  }
  return { mibps: median(rates), rtt: median(rtts) };
}

export async function run(): Promise<BenchEntry[]> {
  const image = await ensureImage({ log: (line) => console.log(line) });
  const nics = [{ model: 'virtio' as const }];
  const a = await VirtualMachine.start({ name: 'bva', template: true, image, nics, hostname: 'bva', ip: ['10.8.0.1/24'] });
  const b = await VirtualMachine.start({ name: 'bvb', template: true, image, nics, hostname: 'bvb', ip: ['10.8.0.2/24'] });
  const wire = connectWire(a.nics[0]!, b.nics[0]!);
  try {
    await sh(b, 'iperf3 -s -D');
    await sh(a, 'ping -c 2 -W 5 10.8.0.2');
    // One block per setting (ethtool changes mid-connection are not measured); each figure is a median.
    const on = await measure(a, 'offloads on');
    for (const vm of [a, b]) await sh(vm, 'ethtool -K eth0 tso off gso off tx off');
    const off = await measure(a, 'offloads off');
    return [
      { name: 'virtio.tcp.nooffload.mibps', value: off.mibps, unit: 'MiB/s' },
      { name: 'virtio.tcp.mibps', value: on.mibps, unit: 'MiB/s', baseline: 'virtio.tcp.nooffload.mibps', ratio: on.mibps / off.mibps },
      { name: 'virtio.rtt.nooffload.ms', value: off.rtt, unit: 'ms' },
      { name: 'virtio.rtt.ms', value: on.rtt, unit: 'ms', baseline: 'virtio.rtt.nooffload.ms', ratio: on.rtt / off.rtt },
    ];
  } finally {
    wire.disconnect();
    await a.stop();
    await b.stop();
  }
}
