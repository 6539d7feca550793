// Soak: a lab of 4 VMs (a, c: e1000; b, d: virtio) for VMSWITCH_SOAK_MINUTES
// (default 10), cycling. Each cycle stops one VM (rotating) and starts it again,
// then runs traffic in two disjoint pairs at once (pairings rotate, so every
// model pair comes up): pings both ways and a 1-4 MiB TCP transfer (busybox
// httpd -> wget) whose size and sha256 must match. A cycle fails when a ping
// goes unanswered, a transfer differs, a stopped VM's port did not go
// NIC_DISCONNECT, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE, the switch's ports
// are not exactly the running VMs' (all connected), or the switch reports an
// extension error or a forced drain. The first failure ends the soak (the lab
// is closed) and is reported with its cycle number (0: the 4 first starts).
//
// After each cycle: event-loop delay of the cycle (p99, max), then a full GC,
// then RSS, heapUsed and arrayBuffers. Why GC first: without it heapUsed is a
// sawtooth whose slope over a few cycles is noise, and a stopped guest's
// 128 MiB of RAM stays in RSS until its buffer happens to be collected. The GC
// comes from --expose-gc when node has it, else from V8's flag set at run time
// (`npm run bench` passes no node flags); the output says which. The loop
// monitors are paused around the GC, so its pause is not counted as delay.
//
// Growth per cycle is the least-squares slope over the cycles after the first
// WARMUP_CYCLES (JIT, template file cache, lazily made structures); the goal is
// flat. Its baseline: the mean RSS of the first quarter of those cycles, with
// the last quarter's mean reported against it (ratio 1.0 = flat).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { BenchEntry } from './types.ts';
import type { NicModel } from '../emulator/net/nic.ts';
import { ensureImage } from '../guest-images/index.ts';
import { Lab } from '../host/lab/index.ts';
import type { LabOidEvent } from '../host/lab/index.ts';
import { median } from './v86-baseline.ts';

const MINUTES = Number(process.env.VMSWITCH_SOAK_MINUTES ?? 10);
/** Cycles left out of the growth figures: the first ones grow caches and JIT code. */
export const WARMUP_CYCLES = 2;
const PINGS = 5;
const HTTP_PORT = 8080;
const FLEET: readonly (readonly [string, NicModel])[] = [
  ['a', 'e1000'],
  ['b', 'virtio'],
  ['c', 'e1000'],
  ['d', 'virtio'],
];
/** Two disjoint pairs per cycle (indexes into FLEET), rotating: e1000-virtio twice, then e1000-e1000 + virtio-virtio, then e1000-virtio again. */
const PAIRINGS: readonly (readonly [number, number])[][] = [
  [
    [0, 1],
    [2, 3],
  ],
  [
    [0, 2],
    [1, 3],
  ],
  [
    [0, 3],
    [1, 2],
  ],
];
/** The seed's stop lifecycle of a port with one NIC. */
export const STOP_ORDER = ['OID_SWITCH_NIC_DISCONNECT', 'OID_SWITCH_NIC_DELETE', 'OID_SWITCH_PORT_TEARDOWN', 'OID_SWITCH_PORT_DELETE'] as const;

/** What went wrong in which cycle (0: starting the lab). */
export class SoakCycleError extends Error {
  constructor(
    readonly cycle: number,
    message: string,
  ) {
    super(`cycle ${cycle}: ${message}`);
    this.name = 'SoakCycleError';
  }
}

// ---- pure helpers (bench/soak.test.ts) ----------------------------------------

/** Slope of the least-squares line through (xs[i], ys[i]). */
export function leastSquaresSlope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length < 2) throw new RangeError(`a slope needs two or more points (${xs.length} x, ${ys.length} y)`);
  const n = xs.length;
  const meanX = xs.reduce((s, x) => s + x, 0) / n;
  const meanY = ys.reduce((s, y) => s + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    covariance += (xs[i]! - meanX) * (ys[i]! - meanY);
    variance += (xs[i]! - meanX) ** 2;
  }
  if (variance === 0) throw new RangeError('a slope needs two distinct x values');
  return covariance / variance;
}

export interface Growth {
  /** Cycles the figures are made of (after the warm-up). */
  cycles: number;
  /** Least-squares slope, in the samples' unit per cycle. */
  perCycle: number;
  /** Mean of the first and the last quarter of those cycles (at least one cycle each). */
  firstQuarter: number;
  lastQuarter: number;
}

/**
 * Growth of one sample per cycle (samples[0] is cycle 1), leaving the first
 * `warmup` cycles out; undefined when fewer than two cycles remain.
 */
export function growthPerCycle(samples: readonly number[], warmup: number): Growth | undefined {
  const kept = samples.slice(warmup);
  if (kept.length < 2) return undefined;
  const cycles = kept.map((_, i) => warmup + i + 1);
  const quarter = Math.max(1, Math.floor(kept.length / 4));
  const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  return { cycles: kept.length, perCycle: leastSquaresSlope(cycles, kept), firstQuarter: mean(kept.slice(0, quarter)), lastQuarter: mean(kept.slice(-quarter)) };
}

/** Why the OIDs a stop produced for `portIds` are not the stop lifecycle, in order, all successful; undefined when they are. */
export function stopOrderProblem(events: readonly Pick<LabOidEvent, 'oid' | 'portId' | 'status'>[], portIds: readonly number[]): string | undefined {
  for (const portId of portIds) {
    const seen = events.filter((e) => e.portId === portId).map((e) => (e.status === 'success' ? e.oid : `${e.oid}:${e.status}`));
    if (seen.join() !== STOP_ORDER.join()) return `port ${portId} stopped with ${seen.join(', ') || 'no OIDs'} (expected ${STOP_ORDER.join(', ')})`;
  }
  return undefined;
}

/** Why busybox ping's summary is not `count` of `count` answered; undefined when it is. */
export function pingProblem(output: string, count: number): string | undefined {
  const match = /(\d+) packets transmitted, (\d+) packets received/.exec(output);
  if (!match) return `no ping summary in ${JSON.stringify(output.slice(-200))}`;
  const [sent, received] = [Number(match[1]), Number(match[2])];
  return sent === count && received === count ? undefined : `${received} of ${sent} pings answered (${count} sent expected)`;
}

// ---- the soak ---------------------------------------------------------------------

interface CycleSample {
  cycle: number;
  seconds: number;
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

/** A full GC, or undefined when this node gives none (the samples are then taken without). */
function findGc(): { collect: () => void; how: string } | undefined {
  if (typeof globalThis.gc === 'function') return { collect: globalThis.gc, how: '--expose-gc' };
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc === 'function') return { collect: gc as () => void, how: "V8's --expose-gc set at run time" };
  } catch {
    // Falls through: no GC available.
  }
  return undefined;
}

class Soak {
  readonly lab = new Lab();
  /** OIDs of the lab while a VM is being stopped. */
  private stopEvents: LabOidEvent[] | undefined;
  /** Extension errors and forced drains since the last check. */
  private switchProblems: string[] = [];
  /** VMs whose current boot already runs httpd. */
  private serving = new Set<string>();
  private readonly offs: (() => void)[] = [];

  constructor() {
    this.offs.push(
      this.lab.on('oid', (event) => this.stopEvents?.push(event)),
      this.lab.on('progress', (event) => console.log(`${event.vm ? `${event.vm}: ` : ''}${event.message}`)),
      this.lab.switch.on('error', (e) => this.switchProblems.push(`extension ${e.extension} threw in ${e.phase}: ${e.message}`)),
      this.lab.switch.on('timeout', (e) => this.switchProblems.push(`${e.wait} of port ${e.portId} forced after ${e.timeoutMs} ms with ${e.references} references held`)),
    );
  }

  async startAll(): Promise<void> {
    for (const [name, model] of FLEET) await this.lab.start(name, { nics: [model] });
    this.checkSwitch(0);
  }

  async cycle(cycle: number): Promise<string> {
    const victim = FLEET[(cycle - 1) % FLEET.length]![0];
    const began = performance.now();
    await this.restart(cycle, victim);
    const restarted = performance.now();
    const pairs = PAIRINGS[(cycle - 1) % PAIRINGS.length]!.map(([x, y]) => [FLEET[x]![0], FLEET[y]![0]] as const);
    const bytes = (1 + ((cycle - 1) % 4)) * 1024 * 1024;
    // Both pairs at once (more traffic in flight); every outcome is awaited before the cycle is judged.
    const outcomes = await Promise.allSettled(pairs.map(([x, y]) => this.traffic(cycle, cycle % 2 ? x : y, cycle % 2 ? y : x, bytes)));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    this.checkSwitch(cycle);
    const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
    return `restarted ${victim} in ${seconds(began, restarted)} s; ${pairs.map(([x, y]) => `${x}-${y}`).join(' ')} ${PINGS}+${PINGS} pings, ${bytes / 1024 / 1024} MiB each in ${seconds(restarted, performance.now())} s`;
  }

  private async restart(cycle: number, name: string): Promise<void> {
    const vm = this.lab.vm(name)!;
    const oldPorts = [...vm.portIds];
    const events: LabOidEvent[] = (this.stopEvents = []);
    try {
      await this.lab.stop(name);
    } catch (error) {
      throw new SoakCycleError(cycle, `stopping ${name}: ${(error as Error).message}`);
    } finally {
      this.stopEvents = undefined;
    }
    const problem = stopOrderProblem(events, oldPorts);
    if (problem) throw new SoakCycleError(cycle, `${name}: ${problem}`);
    if (vm.state !== 'stopped' || vm.guest) throw new SoakCycleError(cycle, `${name} is ${vm.state} after stop`);
    const rows = this.lab.ports();
    for (const portId of oldPorts) {
      if (this.lab.switch.port(portId)) throw new SoakCycleError(cycle, `${name}'s port ${portId} is still on the switch after stop`);
      const state = rows.find((row) => row.portId === portId)?.portState;
      if (state !== 'deleted') throw new SoakCycleError(cycle, `${name}'s port ${portId} is recorded as ${state ?? 'missing'}, not deleted`);
    }
    this.serving.delete(name);
    await this.lab.start(name);
    if (vm.portIds.some((id) => oldPorts.includes(id))) throw new SoakCycleError(cycle, `${name} came back on an old port (${vm.portIds.join(', ')})`);
  }

  /** Pings both ways, then `bytes` of random data from `from` to `to` over TCP, size and sha256 compared. */
  private async traffic(cycle: number, from: string, to: string, bytes: number): Promise<void> {
    for (const [x, y] of [
      [from, to],
      [to, from],
    ] as const) {
      const problem = pingProblem(await this.sh(cycle, x, `ping -c ${PINGS} -i 0.2 -W 5 ${y}`), PINGS);
      if (problem) throw new SoakCycleError(cycle, `${x} -> ${y}: ${problem}`);
    }
    const serve = this.serving.has(from) ? '' : ` && httpd -p ${HTTP_PORT} -h /tmp/www`;
    const made = await this.sh(cycle, from, `mkdir -p /tmp/www && head -c ${bytes} /dev/urandom > /tmp/www/blob && sha256sum /tmp/www/blob${serve}`);
    this.serving.add(from);
    const sent = made.split(/\s/)[0]!;
    const got = (await this.sh(cycle, to, `wget -q -O /tmp/in http://${from}:${HTTP_PORT}/blob && wc -c < /tmp/in && sha256sum /tmp/in && rm /tmp/in`, 180_000)).split('\n');
    const [size, hash] = [Number(got[0]), got[1]?.split(/\s/)[0]];
    if (size !== bytes || hash !== sent) throw new SoakCycleError(cycle, `${from} -> ${to}: received ${size} bytes sha256 ${hash}, sent ${bytes} sha256 ${sent}`);
  }

  private async sh(cycle: number, vm: string, command: string, timeoutMs = 60_000): Promise<string> {
    const result = await this.lab.exec(vm, command, { timeoutMs, syncLinkSettings: false }).catch((error: Error) => {
      throw new SoakCycleError(cycle, `${vm}$ ${command}: ${error.message}`);
    });
    if (result.exitCode !== 0) throw new SoakCycleError(cycle, `${vm}$ ${command}: exit ${result.exitCode}: ${result.output.slice(-300)}`);
    return result.output;
  }

  /** The switch's ports are exactly the running VMs', each NIC connected; no extension error or forced drain so far. */
  private checkSwitch(cycle: number): void {
    const problems = this.switchProblems.splice(0);
    if (problems.length) throw new SoakCycleError(cycle, problems.join('; '));
    const expected = this.lab
      .vms()
      .flatMap((vm) => vm.portIds)
      .sort((x, y) => x - y);
    const actual = this.lab.switch
      .ports()
      .map((p) => p.id)
      .sort((x, y) => x - y);
    if (expected.join() !== actual.join()) throw new SoakCycleError(cycle, `switch ports ${actual.join(', ')}, VM ports ${expected.join(', ')}`);
    for (const portId of actual) {
      const state = this.lab.switch.nic(portId, 0)?.state;
      if (state !== 'connected') throw new SoakCycleError(cycle, `port ${portId}'s NIC is ${state ?? 'missing'}`);
    }
  }

  async close(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    await this.lab.close();
  }
}

const MIB = 1024 * 1024;

function formatCycle(sample: CycleSample, first: CycleSample | undefined, what: string): string {
  const delta = first && first !== sample ? ` (${sample.rss >= first.rss ? '+' : ''}${((sample.rss - first.rss) / MIB).toFixed(1)} since cycle 1)` : '';
  return (
    `cycle ${sample.cycle}: ${sample.seconds.toFixed(1)} s, rss ${(sample.rss / MIB).toFixed(1)} MiB${delta}, heap ${(sample.heapUsed / MIB).toFixed(1)} MiB, ` +
    `arrayBuffers ${(sample.arrayBuffers / MIB).toFixed(1)} MiB, loop p99 ${sample.loopP99Ms.toFixed(0)} ms max ${sample.loopMaxMs.toFixed(0)} ms: ok (${what})`
  );
}

function growthEntries(samples: readonly CycleSample[]): BenchEntry[] {
  const entries: BenchEntry[] = [];
  const kb = (pick: (s: CycleSample) => number) => growthPerCycle(samples.map((s) => pick(s) / 1024), WARMUP_CYCLES);
  const rss = kb((s) => s.rss);
  if (!rss) {
    console.log(`soak: ${samples.length} cycles, too few for growth figures (the first ${WARMUP_CYCLES} are warm-up; two more needed)`);
    return entries;
  }
  const heap = kb((s) => s.heapUsed)!;
  const arrayBuffers = kb((s) => s.arrayBuffers)!;
  const round = (value: number) => Math.round(value * 10) / 10;
  entries.push(
    { name: 'soak.rss.growth.kb_per_cycle', value: round(rss.perCycle), unit: 'KiB/cycle' },
    { name: 'soak.heap.growth.kb_per_cycle', value: round(heap.perCycle), unit: 'KiB/cycle' },
    { name: 'soak.arraybuffers.growth.kb_per_cycle', value: round(arrayBuffers.perCycle), unit: 'KiB/cycle' },
    { name: 'soak.rss.first_quarter.mb', value: round(rss.firstQuarter / 1024), unit: 'MiB' },
    { name: 'soak.rss.last_quarter.mb', value: round(rss.lastQuarter / 1024), unit: 'MiB', baseline: 'soak.rss.first_quarter.mb', ratio: rss.lastQuarter / rss.firstQuarter },
  );
  console.log(`soak: growth over cycles ${WARMUP_CYCLES + 1}-${samples.length} (${rss.cycles} cycles)`);
  return entries;
}

export async function run(): Promise<BenchEntry[]> {
  if (!(MINUTES > 0)) throw new RangeError(`VMSWITCH_SOAK_MINUTES must be a positive number of minutes, not '${process.env.VMSWITCH_SOAK_MINUTES}'`);
  await ensureImage({ log: (line) => console.log(line) });
  const gc = findGc();
  console.log(`soak: ${MINUTES} min of cycles; samples after ${gc ? `a full GC (${gc.how})` : 'no GC (none available)'}`);
  // Ctrl-C ends the soak after the cycle in progress, with its figures; a second one is node's default.
  let interrupted = false;
  const onInterrupt = (): void => {
    interrupted = true;
    console.log('soak: interrupted, stopping after this cycle');
  };
  process.once('SIGINT', onInterrupt);
  const cycleLoop = monitorEventLoopDelay({ resolution: 10 });
  const runLoop = monitorEventLoopDelay({ resolution: 10 });
  const samples: CycleSample[] = [];
  let failure: SoakCycleError | undefined;
  const soak = new Soak();
  try {
    await soak.startAll().catch((error: Error) => {
      throw error instanceof SoakCycleError ? error : new SoakCycleError(0, error.message);
    });
    gc?.collect();
    const deadline = performance.now() + MINUTES * 60_000;
    cycleLoop.enable();
    runLoop.enable();
    for (let cycle = 1; !interrupted && (cycle === 1 || performance.now() < deadline); cycle++) {
      const began = performance.now();
      const what = await soak.cycle(cycle).catch((error: Error) => {
        throw error instanceof SoakCycleError ? error : new SoakCycleError(cycle, error.message);
      });
      // The GC and the sampling are not the lab's delay: the monitors pause around them.
      cycleLoop.disable();
      runLoop.disable();
      const loopP99Ms = cycleLoop.percentile(99) / 1e6;
      const loopMaxMs = cycleLoop.max / 1e6;
      gc?.collect();
      const memory = process.memoryUsage();
      const sample = { cycle, seconds: (performance.now() - began) / 1000, rss: memory.rss, heapUsed: memory.heapUsed, arrayBuffers: memory.arrayBuffers, loopP99Ms, loopMaxMs };
      samples.push(sample);
      console.log(formatCycle(sample, samples[0], what));
      cycleLoop.reset();
      cycleLoop.enable();
      runLoop.enable();
    }
  } catch (error) {
    failure = error instanceof SoakCycleError ? error : new SoakCycleError(samples.length + 1, (error as Error).message);
    console.log(`soak: FAILED in ${failure.message}`);
  } finally {
    cycleLoop.disable();
    runLoop.disable();
    process.removeListener('SIGINT', onInterrupt);
    await soak.close();
  }
  const entries: BenchEntry[] = [
    { name: 'soak.cycles', value: samples.length, unit: 'cycles' },
    { name: 'soak.failures', value: failure ? 1 : 0, unit: 'failures' },
    // Always written (0: none), so an earlier run's failure does not linger in results.json.
    { name: 'soak.failure.cycle', value: failure ? failure.cycle : 0, unit: 'cycle' },
  ];
  if (samples.length) {
    entries.push(
      { name: 'soak.cycle.s', value: Math.round(median(samples.map((s) => s.seconds)) * 10) / 10, unit: 's' },
      { name: 'soak.eventloop.p99.ms', value: Math.round((runLoop.percentile(99) / 1e6) * 10) / 10, unit: 'ms' },
      { name: 'soak.eventloop.max.ms', value: Math.round((runLoop.max / 1e6) * 10) / 10, unit: 'ms' },
      ...growthEntries(samples),
    );
  }
  return entries;
}
