// v86's OWN virtio-net (NIC model 'v86-virtio') as the in-run baseline of the
// NIC benchmarks (issues 4 and 5), and the measuring helpers the NIC groups
// share: a pair of VMs on a plain wire, iperf3 TCP MiB/s as the receiver
// counted it, ping RTT as the median of per-reply times after a warm-up.
// bench/e1000.ts and bench/virtio.ts alternate their own pair with a
// v86-virtio pair (one pair running at a time, so load noise hits both
// alike) and report ratios against `v86virtio.*`. As a group of its own
// (`npm run bench -- v86-baseline`) it measures only the baseline (no more
// than RUNS samples in all, so after those groups it just reports).
import type { BenchEntry } from './types.ts';
import type { NicModel } from '../emulator/net/nic.ts';
import { VirtualMachine } from '../emulator/vm.ts';
import { connectWire, type WireHandle } from '../emulator/net/wire.ts';
import { ensureImage, type GuestImage } from '../guest-images/index.ts';

export const RUNS = Math.max(3, Number(process.env.VMSWITCH_BENCH_RUNS ?? 3));
export const SECONDS = Number(process.env.VMSWITCH_BENCH_SECONDS ?? 10);
/**
 * Untimed iperf3 on every fresh pair before measuring: a VM restored from a
 * template runs cold in v86 (its JIT has compiled nothing yet), and the first
 * 10 s iperf3 of a fresh virtio pair measured 4-6 MiB/s, then 20, 32-45, 52
 * on the same pair (no drops, no RTOs, tcp_no_metrics_save made no
 * difference). Without this, whatever is measured first loses.
 */
export const WARMUP_SECONDS = Number(process.env.VMSWITCH_BENCH_WARMUP_SECONDS ?? 15);
/** Pings per RTT figure (after the warm-up). */
const PINGS = 20;

export function median(values: readonly number[]): number {
  if (!values.length) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What the measuring helpers need of a guest (a VirtualMachine, or bench/qemu.ts's QEMU guest). */
export type GuestShell = Pick<VirtualMachine, 'name' | 'exec'>;

export async function sh(vm: GuestShell, command: string, timeoutMs = 120_000): Promise<string> {
  const result = await vm.exec(command, { timeoutMs });
  if (result.exitCode !== 0) throw new Error(`${vm.name}$ ${command} failed (${result.exitCode}): ${result.output}`);
  return result.output;
}

/** Two VMs of one NIC model on a plain wire, iperf3 server running on b, warmed up. */
export interface WirePair {
  a: VirtualMachine;
  b: VirtualMachine;
  /** b's address. */
  target: string;
  wire: WireHandle;
  stop(): Promise<void>;
}

let image: GuestImage | undefined;

export async function startPair(model: NicModel, prefix: string, subnet: string): Promise<WirePair> {
  image ??= await ensureImage({ log: (line) => console.log(line) });
  const nics = [{ model }];
  const started: VirtualMachine[] = [];
  try {
    const a = await VirtualMachine.start({ name: `${prefix}a`, template: true, image, nics, hostname: `${prefix}a`, ip: [`${subnet}.1/24`] });
    started.push(a);
    const b = await VirtualMachine.start({ name: `${prefix}b`, template: true, image, nics, hostname: `${prefix}b`, ip: [`${subnet}.2/24`] });
    started.push(b);
    const wire = connectWire(a.nics[0]!, b.nics[0]!);
    const target = `${subnet}.2`;
    const stop = async (): Promise<void> => {
      wire.disconnect();
      await a.stop();
      await b.stop();
    };
    try {
      await sh(b, 'iperf3 -s -D');
      await sh(a, `ping -c 2 -W 5 ${target}`);
      if (WARMUP_SECONDS > 0) await sh(a, `iperf3 -c ${target} -t ${WARMUP_SECONDS} >/dev/null`, (WARMUP_SECONDS + 60) * 1000);
    } catch (error) {
      await stop();
      throw error;
    }
    return { a, b, target, wire, stop };
  } catch (error) {
    for (const vm of started) await vm.stop();
    throw error;
  }
}

/** iperf3 TCP a -> target, MiB/s as the receiver counted it. */
export async function tcpMibps(pair: { a: GuestShell; target: string }, seconds = SECONDS): Promise<number> {
  const out = await sh(pair.a, `iperf3 -c ${pair.target} -t ${seconds} -J`, (seconds + 60) * 1000);
  const report = JSON.parse(out.slice(out.indexOf('{'))) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = report.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error(`no receiver figure in iperf3's report: ${out.slice(0, 300)}`);
  return bps / 8 / 1048576;
}

/** Median of the per-reply times of PINGS pings a -> target, after 3 warm-up pings. */
export async function rttMs(pair: { a: GuestShell; target: string }): Promise<number> {
  await sh(pair.a, `ping -c 3 -i 0.2 -W 5 ${pair.target}`);
  const out = await sh(pair.a, `ping -c ${PINGS} -i 0.2 -W 5 ${pair.target}`);
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < PINGS / 2) throw new Error(`only ${times.length} of ${PINGS} pings answered: ${JSON.stringify(out.slice(-300))}`);
  return median(times);
}

export interface Sample {
  mibps: number;
  rtt: number;
}

/** v86-virtio samples of this process: every group adds to them, so later groups report the pooled baseline. */
const v86Samples: Sample[] = [];

/** One v86-virtio measurement: start a pair, TCP then RTT, stop it. */
export async function measureV86Virtio(label = 'v86 virtio'): Promise<Sample> {
  const pair = await startPair('v86-virtio', 'bv86', '10.86.0');
  try {
    const sample = { mibps: await tcpMibps(pair), rtt: await rttMs(pair) };
    const dropped = pair.b.nics[0]!.counters.rxDropped;
    console.log(`${label}: ${sample.mibps.toFixed(2)} MiB/s, rtt ${sample.rtt.toFixed(2)} ms${Object.keys(dropped).length ? `, receiver drops ${JSON.stringify(dropped)}` : ''}`);
    v86Samples.push(sample);
    return sample;
  } finally {
    await pair.stop();
  }
}

/** The baseline figures (medians of every v86-virtio sample of this process). */
export function v86Baseline(): { tcp: BenchEntry; rtt: BenchEntry } {
  return {
    tcp: { name: 'v86virtio.tcp.mibps', value: median(v86Samples.map((s) => s.mibps)), unit: 'MiB/s' },
    rtt: { name: 'v86virtio.rtt.ms', value: median(v86Samples.map((s) => s.rtt)), unit: 'ms' },
  };
}

/**
 * The round loop of the NIC groups: RUNS rounds of our pair (offloads on and
 * off, their order alternating by round), each followed by a v86-virtio pair.
 */
export async function alternateWithV86<On extends Sample>(
  measureOurs: (round: string, offFirst: boolean) => Promise<{ on: On; off: Sample }>,
): Promise<{ on: On[]; off: Sample[] }> {
  const on: On[] = [];
  const off: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const round = `${i + 1}/${RUNS}`;
    const ours = await measureOurs(round, i % 2 === 1);
    on.push(ours.on);
    off.push(ours.off);
    await measureV86Virtio(`v86 virtio ${round}`);
  }
  return { on, off };
}

/** `<model>.tcp[.nooffload].mibps` and `<model>.rtt[.nooffload].ms`: medians against the pooled v86-virtio baseline. */
export function nicEntries(model: string, on: readonly Sample[], off: readonly Sample[]): BenchEntry[] {
  const base = v86Baseline();
  const med = (samples: readonly Sample[], key: keyof Sample) => median(samples.map((s) => s[key]));
  return [
    base.tcp,
    base.rtt,
    against(`${model}.tcp.mibps`, med(on, 'mibps'), 'MiB/s', base.tcp),
    against(`${model}.tcp.nooffload.mibps`, med(off, 'mibps'), 'MiB/s', base.tcp),
    against(`${model}.rtt.ms`, med(on, 'rtt'), 'ms', base.rtt),
    against(`${model}.rtt.nooffload.ms`, med(off, 'rtt'), 'ms', base.rtt),
  ];
}

/** An entry compared with a baseline entry of the same run. */
export function against(name: string, value: number, unit: string, baseline: BenchEntry): BenchEntry {
  return { name, value, unit, baseline: baseline.name, ratio: value / baseline.value };
}

export async function run(): Promise<BenchEntry[]> {
  // After e1000/virtio in the same `npm run bench`, the pooled samples are the figure: no extra pairs.
  for (let i = v86Samples.length; i < RUNS; i++) await measureV86Virtio(`v86 virtio ${i + 1}/${RUNS}`);
  const { tcp, rtt } = v86Baseline();
  return [tcp, rtt];
}
