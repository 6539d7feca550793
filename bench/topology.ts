// A router lab vs one switch, with the same two guests in the same run:
//   a (e1000) -- lan1 -- [e1000 router virtio] -- lan2 -- b eth0 (virtio)
//   a (e1000) -- lan1 -------------------------------------- b eth1 (virtio)
// a reaches b at 10.0.2.10 through the router VM (two switches, a guest's
// IP forwarding) and at 10.0.3.10 across lan1 alone. Blocks alternate
// between the two paths (same JIT state, same moment's load); figures are
// medians: TCP (iperf3) and ping RTT, and router/one-switch ratios.
import type { BenchEntry } from './types.ts';
import { ensureImage } from '../guest-images/index.ts';
import { parseLabFile } from '../host/lab/file/index.ts';
import { LabTopology } from '../host/lab/topology.ts';
import { WARMUP_SECONDS, median } from './v86-baseline.ts';

const RUNS = Math.max(3, Number(process.env.VMSWITCH_BENCH_RUNS ?? 4));
const IPERF_SECONDS = Number(process.env.VMSWITCH_BENCH_IPERF_SECONDS ?? 5);

const LAB = `
name: bench-router
switches: { lan1: {}, lan2: {} }
vms:
  router:
    forwarding: true
    nics:
      - { model: e1000, switch: lan1, addresses: [10.0.1.1/24] }
      - { model: virtio, switch: lan2, addresses: [10.0.2.1/24] }
  a:
    nics: [{ model: e1000, switch: lan1, addresses: [10.0.1.10/24, 10.0.3.9/24] }]
    gateway: 10.0.1.1
  b:
    nics:
      - { model: virtio, switch: lan2, addresses: [10.0.2.10/24] }
      - { model: virtio, switch: lan1, addresses: [10.0.3.10/24] }
    gateway: 10.0.2.1
`;

const PATHS = { router: '10.0.2.10', 'one_switch': '10.0.3.10' } as const;
type Path = keyof typeof PATHS;

export async function run(): Promise<BenchEntry[]> {
  await ensureImage({ log: (line) => console.log(line) });
  const topo = await LabTopology.create(parseLabFile(LAB));
  const exec = async (vm: string, command: string, timeoutMs = 60_000): Promise<string> => {
    const result = await topo.lab.exec(vm, command, { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`${vm}$ ${command}: exit ${result.exitCode}: ${result.output}`);
    return result.output;
  };
  const iperf = async (to: string, seconds: number): Promise<number> => {
    await exec('b', 'iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5');
    const output = await exec('a', `iperf3 -c ${to} -t ${seconds} -f m`, (seconds + 60) * 1000);
    const match = /([0-9.]+) Mbits\/sec\s+receiver/.exec(output);
    if (!match) throw new Error(`no receiver rate in ${JSON.stringify(output)}`);
    return (Number(match[1]) * 1e6) / 8 / (1024 * 1024);
  };
  const rtt = async (to: string): Promise<number> => {
    await exec('a', `ping -c 3 -i 0.2 -W 5 ${to}`);
    const output = await exec('a', `ping -c 20 -i 0.2 -W 5 ${to}`);
    const times = [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
    if (times.length < 10) throw new Error(`only ${times.length} of 20 pings answered`);
    return median(times);
  };
  try {
    await topo.start();
    // Both paths really are what they say: the router hop shows on one, not the other.
    const viaRouter = await exec('a', 'traceroute -n -w 2 -q 1 10.0.2.10', 60_000);
    if (!/\s10\.0\.1\.1\s/.test(viaRouter)) throw new Error(`no router hop to 10.0.2.10: ${viaRouter}`);
    await iperf(PATHS.router, WARMUP_SECONDS);
    const samples: Record<Path, { tcp: number[]; rtt: number[] }> = { router: { tcp: [], rtt: [] }, one_switch: { tcp: [], rtt: [] } };
    for (let round = 0; round < RUNS; round++) {
      for (const path of round % 2 ? (['one_switch', 'router'] as const) : (['router', 'one_switch'] as const)) {
        samples[path].tcp.push(await iperf(PATHS[path], IPERF_SECONDS));
        samples[path].rtt.push(await rtt(PATHS[path]));
        console.log(`topology ${round + 1}/${RUNS} ${path}: ${samples[path].tcp.at(-1)!.toFixed(2)} MiB/s, rtt ${samples[path].rtt.at(-1)!.toFixed(2)} ms`);
      }
    }
    const tcp = { router: median(samples.router.tcp), one: median(samples.one_switch.tcp) };
    const ms = { router: median(samples.router.rtt), one: median(samples.one_switch.rtt) };
    const round2 = (x: number) => Math.round(x * 100) / 100;
    return [
      { name: 'topology.one_switch.tcp.MiBps', value: round2(tcp.one), unit: 'MiB/s' },
      { name: 'topology.router.tcp.MiBps', value: round2(tcp.router), unit: 'MiB/s', baseline: 'topology.one_switch.tcp.MiBps', ratio: round2(tcp.router / tcp.one) },
      { name: 'topology.one_switch.rtt.ms', value: round2(ms.one), unit: 'ms' },
      { name: 'topology.router.rtt.ms', value: round2(ms.router), unit: 'ms', baseline: 'topology.one_switch.rtt.ms', ratio: round2(ms.router / ms.one) },
    ];
  } finally {
    await topo.close();
  }
}
