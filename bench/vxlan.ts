// Two VMs in two processes joined by VXLAN over loopback (each process a Lab
// with a VXLAN uplink: test/guest/vxlan-side.ts) against two VMs on one
// switch in this process, measured in the same run, blocks alternating:
// iperf3 TCP a -> b and the median of 20 pings. Ratios: vxlan/one-switch
// (TCP: higher is better, goal >= 0.8; RTT: lower is better, goal <= 1.3).
// All four VMs run throughout (the pair not being measured idles). The
// VXLAN VMs have MTU 1450 (the lab's default with a VXLAN uplink), the
// one-switch VMs the guests' 1500; both pairs are virtio.
import { freeUdpPort } from '../host/uplink/udp-testing.ts';
import type { BenchEntry } from './types.ts';
import { ensureImage } from '../guest-images/index.ts';
import { Lab } from '../host/lab/index.ts';
import { VxlanSide } from '../test/guest/vxlan-side.ts';
import { median } from './v86-baseline.ts';

const RUNS = Math.max(1, Number(process.env.VMSWITCH_BENCH_RUNS ?? 3));
const IPERF_SECONDS = Number(process.env.VMSWITCH_BENCH_IPERF_SECONDS ?? 5);
const A = '10.0.0.11';
const B = '10.0.0.12';

type Exec = (vm: 'a' | 'b', command: string, timeoutMs?: number) => Promise<string>;
type Path = 'one-switch' | 'vxlan';


async function rtt(exec: Exec): Promise<number> {
  await exec('a', `ping -c 3 -i 0.2 -W 5 ${B}`);
  const output = await exec('a', `ping -c 20 -i 0.2 -W 5 ${B}`);
  const times = [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < 10) throw new Error(`only ${times.length} of 20 pings answered`);
  return median(times);
}

async function iperf(exec: Exec, seconds: number): Promise<number> {
  await exec('b', 'iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5');
  const output = await exec('a', `iperf3 -c ${B} -t ${seconds} -f m`, (seconds + 60) * 1000);
  const match = /([0-9.]+) Mbits\/sec\s+receiver/.exec(output);
  if (!match) throw new Error(`no receiver rate in ${JSON.stringify(output)}`);
  return (Number(match[1]) * 1e6) / 8 / (1024 * 1024);
}

export async function run(): Promise<BenchEntry[]> {
  await ensureImage({ log: (line) => console.log(line) });
  const lab = new Lab();
  let sides: VxlanSide[] = [];
  try {
    await lab.start('a', { nics: [{ model: 'virtio', ip: `${A}/24` }] });
    await lab.start('b', { nics: [{ model: 'virtio', ip: `${B}/24` }] });
    const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
    const vxlan = (local: number, peer: number) => ({ vni: 77, local: { address: '127.0.0.1', port: local, family: 4 as const }, peers: [{ address: '127.0.0.1', port: peer, family: 4 as const }] });
    sides = await Promise.all([
      VxlanSide.spawn({ vm: 'a', model: 'virtio', ip: `${A}/24`, vxlan: vxlan(pa, pb), labId: 'bench-a' }),
      VxlanSide.spawn({ vm: 'b', model: 'virtio', ip: `${B}/24`, vxlan: vxlan(pb, pa), labId: 'bench-b' }),
    ]);
    const execs: Record<Path, Exec> = {
      'one-switch': async (vm, command, timeoutMs = 60_000) => {
        const result = await lab.exec(vm, command, { timeoutMs });
        if (result.exitCode !== 0) throw new Error(`${vm}$ ${command}: exit ${result.exitCode}: ${result.output}`);
        return result.output;
      },
      vxlan: (vm, command, timeoutMs = 60_000) => sides[vm === 'a' ? 0 : 1]!.ok(command, timeoutMs),
    };
    const samples: Record<Path, { rtt: number[]; tcp: number[] }> = { 'one-switch': { rtt: [], tcp: [] }, vxlan: { rtt: [], tcp: [] } };
    // Warm-up: both pairs' guests and JITs.
    for (const path of ['one-switch', 'vxlan'] as const) await iperf(execs[path], 3);
    for (let round = 0; round < RUNS; round++) {
      for (const path of round % 2 ? (['vxlan', 'one-switch'] as const) : (['one-switch', 'vxlan'] as const)) {
        samples[path].tcp.push(await iperf(execs[path], IPERF_SECONDS));
        samples[path].rtt.push(await rtt(execs[path]));
        console.log(`vxlan bench ${round + 1}/${RUNS} ${path}: ${samples[path].tcp.at(-1)!.toFixed(2)} MiB/s, rtt ${samples[path].rtt.at(-1)!.toFixed(2)} ms`);
      }
    }
    const [state] = await Promise.all([sides[0]!.state()]);
    console.log(`vxlan side a: ${JSON.stringify(state.counters)} uplink drops ${JSON.stringify(state.uplinkDrops)} port drops ${JSON.stringify(state.portDrops)}`);
    const one = { rtt: median(samples['one-switch'].rtt), tcp: median(samples['one-switch'].tcp) };
    const vx = { rtt: median(samples.vxlan.rtt), tcp: median(samples.vxlan.tcp) };
    return [
      { name: 'vxlan.one-switch.virtio.tcp.mibps', value: one.tcp, unit: 'MiB/s' },
      { name: 'vxlan.two-process.virtio.tcp.mibps', value: vx.tcp, unit: 'MiB/s', baseline: 'vxlan.one-switch.virtio.tcp.mibps', ratio: vx.tcp / one.tcp },
      { name: 'vxlan.one-switch.virtio.rtt.ms', value: one.rtt, unit: 'ms' },
      { name: 'vxlan.two-process.virtio.rtt.ms', value: vx.rtt, unit: 'ms', baseline: 'vxlan.one-switch.virtio.rtt.ms', ratio: vx.rtt / one.rtt },
    ];
  } finally {
    await Promise.all(sides.map((side) => side.close()));
    await lab.close();
  }
}
