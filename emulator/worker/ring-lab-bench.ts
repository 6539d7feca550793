// The frame rings end to end (Node-only; run:
// XDG_CACHE_HOME=... node --import tsx emulator/worker/ring-lab-bench.ts [e1000|virtio ...]).
// Per NIC model, one Lab with two pairs of VMs in worker threads, one pair
// whose frames cross threads in SharedArrayBuffer rings and one with
// transferred messages; blocks alternate between the pairs (the order flips
// each round) so both see the same moment's load: iperf3 TCP a -> b
// (VMSWITCH_BENCH_IPERF_SECONDS, default 5), then 20 pings. Figures are
// medians of VMSWITCH_BENCH_RUNS rounds (default 6). The figures behind the
// default transport are in ARCHITECTURE.md ("VM threads").
import { Lab } from '../../host/lab/index.ts';
import type { LaunchGuest } from '../../host/lab/guest.ts';
import type { NicModel } from '../net/nic.ts';
import { startVmThread } from './node-launch.ts';
import type { FrameTransport } from './ring.ts';
import { median } from '../../bench/v86-baseline.ts';

const RUNS = Number(process.env.VMSWITCH_BENCH_RUNS ?? 6);
const IPERF_SECONDS = Number(process.env.VMSWITCH_BENCH_IPERF_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.VMSWITCH_BENCH_WARMUP_SECONDS ?? 10);

/** VMs named r* get rings, t* transferables. */
const launch: LaunchGuest = (l) =>
  startVmThread({ name: l.name, nics: l.nics, hostname: l.hostname, ip: l.ip, hosts: l.hosts, template: l.template, frameTransport: (l.name.startsWith('r') ? 'ring' : 'transfer') as FrameTransport, ...(l.log ? { log: l.log } : {}) });

async function measure(model: NicModel): Promise<void> {
  const lab = new Lab({ launch });
  const run = async (vm: string, command: string, timeoutMs = 120_000): Promise<string> => {
    const result = await lab.exec(vm, command, { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`${vm}$ ${command}: exit ${result.exitCode}: ${result.output}`);
    return result.output;
  };
  const iperf = async (a: string, b: string, seconds: number): Promise<number> => {
    await run(b, 'iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5');
    const output = await run(a, `iperf3 -c ${b} -t ${seconds} -f m`);
    const match = /([0-9.]+) Mbits\/sec\s+receiver/.exec(output);
    if (!match) throw new Error(`no receiver rate in ${JSON.stringify(output)}`);
    return (Number(match[1]) * 1e6) / 8 / (1024 * 1024);
  };
  const rtt = async (a: string, b: string): Promise<number> => {
    await run(a, `ping -c 3 -i 0.2 -W 5 ${b}`);
    const output = await run(a, `ping -c 20 -i 0.2 -W 5 ${b}`);
    return median([...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
  };
  try {
    for (const name of ['r1', 'r2', 't1', 't2']) await lab.start(name, { nics: [model] });
    const pairs: Record<FrameTransport, [string, string]> = { ring: ['r1', 'r2'], transfer: ['t1', 't2'] };
    for (const [a, b] of Object.values(pairs)) await iperf(a, b, WARMUP_SECONDS);
    const samples: Record<FrameTransport, { tcp: number[]; rtt: number[] }> = { ring: { tcp: [], rtt: [] }, transfer: { tcp: [], rtt: [] } };
    for (let round = 0; round < RUNS; round++) {
      for (const transport of round % 2 ? (['transfer', 'ring'] as const) : (['ring', 'transfer'] as const)) {
        const [a, b] = pairs[transport];
        samples[transport].tcp.push(await iperf(a, b, IPERF_SECONDS));
        samples[transport].rtt.push(await rtt(a, b));
        console.log(`${model} ${round + 1}/${RUNS} ${transport.padEnd(8)}: ${samples[transport].tcp.at(-1)!.toFixed(2)} MiB/s, rtt ${samples[transport].rtt.at(-1)!.toFixed(3)} ms`);
      }
    }
    const ring = { tcp: median(samples.ring.tcp), rtt: median(samples.ring.rtt) };
    const transfer = { tcp: median(samples.transfer.tcp), rtt: median(samples.transfer.rtt) };
    console.log(
      `${model}-${model}: ring ${ring.tcp.toFixed(2)} MiB/s rtt ${ring.rtt.toFixed(3)} ms; transfer ${transfer.tcp.toFixed(2)} MiB/s rtt ${transfer.rtt.toFixed(3)} ms; ring/transfer TCP ${(ring.tcp / transfer.tcp).toFixed(2)}x, RTT ${(ring.rtt / transfer.rtt).toFixed(2)}x`,
    );
  } finally {
    await lab.close();
  }
}

const models = (process.argv.slice(2).length ? process.argv.slice(2) : ['e1000', 'virtio']) as NicModel[];
for (const model of models) await measure(model);
