// VMs on the switch: VM start (template snapshot) to the first successful
// ping; per NIC pair, ping RTT and iperf3 TCP throughput through the lab's
// switch (default stack) and on a plain wire (emulator/net/wire.ts), the same
// two guests alternating between the two paths in the same run. The ratios
// are the switch's overhead (RTT: lab/wire, lower is better; TCP: lab/wire,
// higher is better). One pair of VMs at a time.
import type { BenchEntry } from './types.ts';
import type { NicModel } from '../emulator/net/nic.ts';
import { VirtualMachine } from '../emulator/vm.ts';
import { connectWire } from '../emulator/net/wire.ts';
import { ensureImage } from '../guest-images/index.ts';
import { Lab } from '../host/lab/index.ts';
import { WARMUP_SECONDS, median } from './v86-baseline.ts';

/**
 * Blocks per path and pair (and VM starts timed). Single 5-s blocks of one pair spread by +-10%
 * (noise the size of the overhead measured); medians of 8 were steady, 3 were not.
 */
const RUNS = Math.max(3, Number(process.env.VMSWITCH_BENCH_RUNS ?? 8));
const IPERF_SECONDS = Number(process.env.VMSWITCH_BENCH_IPERF_SECONDS ?? 5);
const PAIRS: [NicModel, NicModel][] = [
  ['e1000', 'e1000'],
  ['virtio', 'virtio'],
  ['e1000', 'virtio'],
];

interface Exec {
  (vm: 'a' | 'b', command: string, timeoutMs?: number): Promise<string>;
}

/** Median of the per-reply times of 20 pings a -> b, ms (after warm-up pings for ARP and caches). */
async function rtt(exec: Exec): Promise<number> {
  await exec('a', 'ping -c 3 -i 0.2 -W 5 b');
  const output = await exec('a', 'ping -c 20 -i 0.2 -W 5 b');
  const times = [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < 10) throw new Error(`only ${times.length} of 20 pings answered: ${JSON.stringify(output.slice(-300))}`);
  return median(times);
}

async function iperf(exec: Exec, seconds: number): Promise<number> {
  await exec('b', 'iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5');
  const output = await exec('a', `iperf3 -c b -t ${seconds} -f m`, (seconds + 60) * 1000);
  const match = /([0-9.]+) Mbits\/sec\s+receiver/.exec(output);
  if (!match) throw new Error(`no receiver rate in ${JSON.stringify(output)}`);
  return (Number(match[1]) * 1e6) / 8 / (1024 * 1024);
}

type Path = 'switch' | 'wire';

/**
 * One pair of guests, measured alternately through the lab's switch and on a
 * plain wire: the same two VMs (same JIT state, same moment's machine load),
 * only the path of their frames changes between blocks. Sequential runs of
 * separate pairs differed by +-10% from load alone, as much as the overhead
 * being measured. Each block: iperf3 TCP (IPERF_SECONDS), then 20 pings; the
 * order of the two paths alternates by round; figures are medians.
 */
async function pairBothWays(first: NicModel, second: NicModel, label: string): Promise<Record<Path, { rtt: number; tcp: number }>> {
  const lab = new Lab(); // its default stack (capture paused, ACL, MAC learning) is the switch measured
  const hosts = { a: '10.0.0.1', b: '10.0.0.2' };
  const vms: Record<'a' | 'b', VirtualMachine | undefined> = { a: undefined, b: undefined };
  try {
    vms.a = await VirtualMachine.start({ name: 'a', nics: [{ model: first }], ip: ['10.0.0.1/24'], hosts, template: true });
    vms.b = await VirtualMachine.start({ name: 'b', nics: [{ model: second }], ip: ['10.0.0.2/24'], hosts, template: true });
    const nics = [vms.a.nics[0]!, vms.b.nics[0]!] as const;
    const exec: Exec = async (vm, command, timeoutMs = 60_000) => {
      const result = await vms[vm]!.exec(command, { timeoutMs });
      if (result.exitCode !== 0) throw new Error(`${vm}$ ${command}: exit ${result.exitCode}: ${result.output}`);
      return result.output;
    };
    // The cable is never unplugged between blocks (that would flap the guests' link): each path just takes over the NICs' transmit sinks.
    const use = async (path: Path): Promise<() => Promise<void>> => {
      if (path === 'wire') {
        connectWire(nics[0], nics[1]);
        return async () => {
          for (const nic of nics) nic.setTransmitSink(null);
        };
      }
      const ports = [await lab.switch.attachNic(nics[0], { vmName: 'a', index: 0 }), await lab.switch.attachNic(nics[1], { vmName: 'b', index: 0 })];
      return async () => {
        for (const port of ports) await port.detach();
      };
    };
    const samples: Record<Path, { rtt: number[]; tcp: number[] }> = { switch: { rtt: [], tcp: [] }, wire: { rtt: [], tcp: [] } };
    let release = await use('switch');
    await iperf(exec, WARMUP_SECONDS); // warms both guests' code, whichever path carries it
    await release();
    for (let round = 0; round < RUNS; round++) {
      for (const path of round % 2 ? (['wire', 'switch'] as const) : (['switch', 'wire'] as const)) {
        release = await use(path);
        try {
          samples[path].tcp.push(await iperf(exec, IPERF_SECONDS));
          samples[path].rtt.push(await rtt(exec));
          console.log(`${label} ${round + 1}/${RUNS} ${path}: ${samples[path].tcp.at(-1)!.toFixed(2)} MiB/s, rtt ${samples[path].rtt.at(-1)!.toFixed(2)} ms`);
        } finally {
          await release();
        }
      }
    }
    const figures = (path: Path) => ({ rtt: median(samples[path].rtt), tcp: median(samples[path].tcp) });
    return { switch: figures('switch'), wire: figures('wire') };
  } finally {
    await vms.a?.stop();
    await vms.b?.stop();
    await lab.close();
  }
}

async function startToPing(): Promise<number> {
  const lab = new Lab();
  try {
    // The first start may have to make the template: not counted.
    await lab.start('a', { nics: ['virtio'] });
    await lab.start('warm', { nics: ['virtio'] });
    await lab.stop('warm');
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const began = performance.now();
      await lab.start('b', { nics: ['virtio'] });
      for (let attempt = 0; ; attempt++) {
        const result = await lab.exec('b', 'ping -c 1 -W 1 a');
        if (result.exitCode === 0) break;
        if (attempt > 30) throw new Error(`b never reached a: ${result.output}`);
      }
      times.push(performance.now() - began);
      console.log(`start to ping ${i + 1}/${RUNS}: ${times.at(-1)!.toFixed(0)} ms`);
      await lab.stop('b');
    }
    return median(times);
  } finally {
    await lab.close();
  }
}

export async function run(): Promise<BenchEntry[]> {
  await ensureImage({ log: (line) => console.log(line) });
  const entries: BenchEntry[] = [];
  entries.push({ name: 'lab.start_to_ping.ms', value: Math.round(await startToPing()), unit: 'ms' });
  for (const [first, second] of PAIRS) {
    const pair = `${first}-${second}`;
    try {
      const { switch: lab, wire } = await pairBothWays(first, second, pair);
      console.log(`${pair}: switch rtt ${lab.rtt.toFixed(2)} ms, ${lab.tcp.toFixed(2)} MiB/s; wire rtt ${wire.rtt.toFixed(2)} ms, ${wire.tcp.toFixed(2)} MiB/s`);
      entries.push(
        { name: `wire.${pair}.rtt.ms`, value: wire.rtt, unit: 'ms' },
        { name: `lab.${pair}.rtt.ms`, value: lab.rtt, unit: 'ms', baseline: `wire.${pair}.rtt.ms`, ratio: lab.rtt / wire.rtt },
        { name: `wire.${pair}.tcp.mibps`, value: wire.tcp, unit: 'MiB/s' },
        { name: `lab.${pair}.tcp.mibps`, value: lab.tcp, unit: 'MiB/s', baseline: `wire.${pair}.tcp.mibps`, ratio: lab.tcp / wire.tcp },
      );
    } catch (error) {
      // One pair failing (e.g. a guest that stops answering) must not lose the others' figures.
      console.log(`${pair}: not measured: ${(error as Error).message}`);
    }
  }
  return entries;
}
