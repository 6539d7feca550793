// Many VMs in one lab (issue 13): N VMs (default 16, 128 MiB each, one
// virtio-net NIC) started together from templates into one Lab; how long until
// every NIC is connected, a full-mesh ping (every VM pings every other once,
// each VM's pings in parallel), the CPU the whole lab burns while every guest
// idles at its prompt, and resident memory per VM. Written against the Lab
// API only: where VMs run (main thread, workers, child processes) is the
// Lab's business, and the CPU and RSS figures count the whole process tree.
//
// N: `npm run bench -- scale --vms 8` (scripts/bench.ts passes it as
// VMSWITCH_BENCH_VMS) or VMSWITCH_BENCH_VMS=8. Figures are named after N
// (scale.16.connected.ms, ...) so runs of different sizes do not mix.
// VMSWITCH_BENCH_SCALE_PARALLEL: how many starts run at once (default all N).
// With every VM on the main thread, 16 restores at once on a loaded 2-core
// machine starved each guest until its personalisation exec timed out (20 s):
// a smaller number measures what today's runtime can do, all at once what
// worker threads should. A VM that fails to start is reported and left out;
// the mesh figure then shows the pings it did not answer.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchEntry } from './types.ts';
import { ensureImage } from '../guest-images/index.ts';
import { Lab } from '../host/lab/index.ts';

const IDLE_SECONDS = Number(process.env.VMSWITCH_BENCH_IDLE_SECONDS ?? 10);
/** After the mesh, before idle CPU is sampled: ARP retries, timers and the exec round trips settle. */
const IDLE_SETTLE_MS = 3000;
const PING_WAIT_SECONDS = 10;

export function parallelStarts(n: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = env.VMSWITCH_BENCH_SCALE_PARALLEL;
  if (text === undefined) return n;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`VMSWITCH_BENCH_SCALE_PARALLEL must be a whole number >= 1, not '${text}'`);
  return Math.min(value, n);
}

export function vmCount(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.VMSWITCH_BENCH_VMS ?? '16';
  const n = Number(text);
  // 10.0.0.n/24 addresses by lab order, and the N(N-1) pings must stay countable.
  if (!Number.isInteger(n) || n < 2 || n > 200) throw new Error(`VMSWITCH_BENCH_VMS (--vms) must be an integer 2-200, not '${text}'`);
  return n;
}

/** utime + stime of a process (all its threads), in clock ticks, from /proc/PID/stat. */
export function procTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** This process and every live descendant (child processes, if VMs ever run in them), by /proc. */
function processTree(pid: number | 'self' = 'self'): string[] {
  const pids = [String(pid)];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.split(' ').filter(Boolean)) pids.push(...processTree(Number(child)));
  }
  return pids;
}

function treeTicks(): number {
  let ticks = 0;
  for (const pid of processTree()) {
    try {
      ticks += procTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // A child that ended in between.
    }
  }
  return ticks;
}

function treeRssBytes(): number {
  let bytes = 0;
  for (const pid of processTree()) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) bytes += Number(match[1]) * 1024;
    } catch {
      // A child that ended in between.
    }
  }
  return bytes;
}

/** Clock ticks per second (USER_HZ): 100 on every Linux this runs on; /proc does not say it. */
const TICKS_PER_SECOND = 100;

/**
 * The shell command that pings every target once, all at the same time, and
 * prints one line per answer. A loop, not one ping per target spelled out: a
 * command longer than the console's line (emulator/exec.ts) goes over in
 * acknowledged pieces, and with 16 busy VMs an acknowledgement took over its 10 s.
 */
export function meshCommand(targets: string[]): string {
  return `for ip in ${targets.join(' ')}; do (ping -c 1 -W ${PING_WAIT_SECONDS} $ip >/dev/null 2>&1 && echo answered $ip) & done; wait`;
}

export function countAnswers(output: string): number {
  return output.split('\n').filter((line) => line.startsWith('answered ')).length;
}

function loadavg(): string {
  return `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
}

export async function run(): Promise<BenchEntry[]> {
  const n = vmCount();
  await ensureImage({ log: (line) => console.log(line) });
  const lab = new Lab();
  const names = Array.from({ length: n }, (_, i) => `s${i + 1}`);
  try {
    // The template is made (one cold boot) before the clock starts, by a VM that then leaves.
    await lab.start('warm', { nics: ['virtio'] });
    await lab.stop('warm');
    const rssBefore = treeRssBytes();
    // Defined first: every guest starts with all names in /etc/hosts.
    for (const name of names) lab.define(name, { nics: ['virtio'] });
    const parallel = parallelStarts(n);
    console.log(`scale: starting ${n} VMs, ${parallel} at a time; ${loadavg()}`);
    const began = performance.now();
    const queue = [...names];
    const failed: string[] = [];
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          await lab.start(name).catch((error: Error) => failed.push(`${name}: ${error.message}`));
        }
      }),
    );
    const connectedMs = performance.now() - began;
    for (const failure of failed) console.log(`scale: did not start: ${failure}`);
    const connected = names.filter((name) => lab.vm(name)!.state === 'running' && lab.vm(name)!.portIds.every((portId) => lab.switch.nic(portId, 0)?.state === 'connected'));
    console.log(`scale: ${connected.length} of ${n} VMs connected in ${connectedMs.toFixed(0)} ms; ${loadavg()}`);

    const addresses = new Map(names.map((name) => [name, lab.vm(name)!.address!]));
    const meshBegan = performance.now();
    // Only running VMs can be asked; the others' pings count as unanswered.
    const answers = await Promise.all(
      connected.map(async (name) => {
        const targets = names.filter((other) => other !== name).map((other) => addresses.get(other)!);
        const result = await lab.exec(name, meshCommand(targets), { timeoutMs: (PING_WAIT_SECONDS + 120) * 1000, syncLinkSettings: false }).catch((error: Error) => ({ output: error.message }));
        const answered = countAnswers(result.output);
        if (answered < targets.length) console.log(`scale: ${name} had ${answered} of ${targets.length} answers: ${JSON.stringify(result.output.slice(-200))}`);
        return answered;
      }),
    );
    const answered = answers.reduce((sum, count) => sum + count, 0);
    console.log(`scale: mesh ping ${answered}/${n * (n - 1)} answered in ${(performance.now() - meshBegan).toFixed(0)} ms; ${loadavg()}`);

    await sleep(IDLE_SETTLE_MS);
    const ticksBefore = treeTicks();
    const idleBegan = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const seconds = (performance.now() - idleBegan) / 1000;
    const idlePct = ((treeTicks() - ticksBefore) / TICKS_PER_SECOND / seconds) * 100;
    const rssPerVm = (treeRssBytes() - rssBefore) / Math.max(1, connected.length) / 1e6;
    console.log(`scale: ${connected.length} idle VMs: ${idlePct.toFixed(1)}% of a core over ${IDLE_SECONDS} s, ${rssPerVm.toFixed(0)} MB RSS per VM; ${loadavg()}`);
    return [
      { name: `scale.${n}.connected.ms`, value: Math.round(connectedMs), unit: connected.length === n ? 'ms' : `ms (${connected.length} of ${n} connected)` },
      { name: `scale.${n}.connected`, value: connected.length, unit: `of ${n}` },
      { name: `scale.${n}.mesh.answered`, value: answered, unit: `of ${n * (n - 1)}` },
      { name: `scale.${n}.idle.cpu.pct`, value: Math.round(idlePct * 10) / 10, unit: '% of a core' },
      { name: `scale.${n}.rss.mb_per_vm`, value: Math.round(rssPerVm), unit: 'MB' },
    ];
  } finally {
    await lab.close();
  }
}
