// Boot figures: cold boot to a responsive shell, start from a snapshot to a
// responsive shell, and start from the template (restore + personalisation).
// Medians of VMSWITCH_BENCH_RUNS runs (default 3), one VM at a time. Then
// the CPU one idle VM costs (issue 13's idle.cpu.pct; bench/qemu.ts measures
// qemu.idle.cpu.pct the same way).
import type { BenchEntry } from './types.ts';
import { VirtualMachine } from '../emulator/vm.ts';
import { ensureImage } from '../guest-images/index.ts';

const RUNS = Math.max(3, Number(process.env.VMSWITCH_BENCH_RUNS ?? 3));
const IDLE_SECONDS = Number(process.env.VMSWITCH_BENCH_IDLE_SECONDS ?? 10);
/** After the shell answers, before sampling: the guest's last start-up work settles (as bench/qemu.ts waits). */
const IDLE_SETTLE_MS = 3000;

/**
 * This process's CPU (all its threads: V8's compiler threads too) while its
 * only VM sits at the shell prompt, % of one core. Nothing else runs here
 * meanwhile, so it is the VM's cost.
 */
async function idleCpuPercent(vm: VirtualMachine): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const cpu = process.cpuUsage(cpuStart);
  const seconds = (performance.now() - wallStart) / 1000;
  return (cpu.user + cpu.system) / 1e4 / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timed(start: () => Promise<VirtualMachine>, keep = false): Promise<{ ms: number; vm?: VirtualMachine }> {
  const vm = await start();
  const ms = vm.startInfo.ms;
  const check = await vm.exec('echo ok');
  if (check.output !== 'ok\n') throw new Error(`guest answered ${JSON.stringify(check.output)}`);
  if (keep) return { ms, vm };
  await vm.stop();
  return { ms };
}

export async function run(): Promise<BenchEntry[]> {
  const image = await ensureImage({ log: (line) => console.log(line) });
  const cold: number[] = [];
  let snapshot: Uint8Array | undefined;
  for (let i = 0; i < RUNS; i++) {
    const last = i === RUNS - 1;
    const { ms, vm } = await timed(() => VirtualMachine.start({ name: `bench${i}`, image }), last);
    cold.push(ms);
    if (vm) {
      snapshot = await vm.saveSnapshot();
      await vm.stop();
    }
    console.log(`cold boot ${i + 1}/${RUNS}: ${ms.toFixed(0)} ms`);
  }
  const restored: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { ms } = await timed(() => VirtualMachine.start({ snapshot: snapshot!, image }));
    restored.push(ms);
    console.log(`snapshot start ${i + 1}/${RUNS}: ${ms.toFixed(0)} ms`);
  }
  // The first template start may have to create the template: not counted.
  await timed(() => VirtualMachine.start({ template: true, image }));
  const template: number[] = [];
  let idlePct = NaN;
  for (let i = 0; i < RUNS; i++) {
    const last = i === RUNS - 1;
    const { ms, vm } = await timed(() => VirtualMachine.start({ template: true, image, name: `t${i}`, hostname: `t${i}`, ip: [], hosts: { a: '10.0.0.1' } }), last);
    template.push(ms);
    console.log(`template start ${i + 1}/${RUNS}: ${ms.toFixed(0)} ms`);
    if (vm) {
      try {
        idlePct = await idleCpuPercent(vm);
        console.log(`idle VM: ${idlePct.toFixed(2)}% of a core over ${IDLE_SECONDS} s`);
      } finally {
        await vm.stop();
      }
    }
  }
  const coldMs = Math.round(median(cold));
  const snapMs = Math.round(median(restored));
  const templateMs = Math.round(median(template));
  return [
    { name: 'boot.cold.ms', value: coldMs, unit: 'ms' },
    { name: 'boot.snapshot.ms', value: snapMs, unit: 'ms', baseline: 'boot.cold.ms', ratio: snapMs / coldMs },
    { name: 'boot.template.ms', value: templateMs, unit: 'ms', baseline: 'boot.cold.ms', ratio: templateMs / coldMs },
    { name: 'idle.cpu.pct', value: Math.round(idlePct * 100) / 100, unit: '% of a core' },
    { name: 'boot.snapshot.size', value: Math.round((snapshot!.length / 1e6) * 10) / 10, unit: 'MB' },
  ];
}
