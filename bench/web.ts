// `npm run bench -- web`: the browser lab, driven by Puppeteer.
//   web.boot.cold.ms      Start click to a shell prompt, cold boot, in a Worker (median of runs)
//   web.boot.snapshot.ms  the same from a template snapshot (only when the server offers one)
//   web.rtt.ms            ping RTT a (e1000) -> b (virtio-net) through the page's switch (mean of 20)
// Baseline in the same run: the same cold boot in Node through the same
// adapter and NIC model (`web.node.boot.cold.ms`), so web.boot.cold.ms gets
// a browser/Node ratio.
import { readFile } from 'node:fs/promises';
import type { BenchEntry } from './types.ts';
import { openLab, addVm, typeInto, waitForTerminal } from '../test/e2e/browser.ts';
import { bootCommandLine, PromptWatcher } from '../web/worker/guest-setup.ts';

const RUNS = Number(process.env.VMSWITCH_BENCH_RUNS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type LabWindow = { vmswitch: { lab: { start(n: string, b: string): Promise<void>; stop(n: string): Promise<void>; vms: Map<string, { bootMs?: number; bootedFrom?: string }> } } };

/** Start a VM from the page's model and return its start-to-prompt time. */
async function timedStart(page: import('puppeteer').Page, name: string, boot: 'cold' | 'snapshot'): Promise<{ ms: number; from: string }> {
  return page.evaluate(
    async (vm, mode) => {
      const lab = (window as unknown as LabWindow).vmswitch.lab;
      await lab.start(vm, mode);
      const info = lab.vms.get(vm)!;
      return { ms: info.bootMs!, from: info.bootedFrom! };
    },
    name,
    boot,
  );
}

async function stopVm(page: import('puppeteer').Page, name: string): Promise<void> {
  await page.evaluate((vm) => (window as unknown as LabWindow).vmswitch.lab.stop(vm), name);
}

/** The same cold boot in Node: the v86 adapter, one e1000, the same kernel command line. */
async function nodeColdBootMs(): Promise<number> {
  const { ensureImage } = await import('../guest-images/index.ts');
  const { V86Machine } = await import('../emulator/v86/adapter.ts');
  const { nicFactory } = await import('../emulator/devices/index.ts');
  const image = await ensureImage();
  const [bios, vgaBios, kernel, initrd] = await Promise.all([image.bios, image.vgaBios, image.kernel, image.initrd].map((p) => readFile(p)));
  const factory = await nicFactory('e1000');
  const started = performance.now();
  const machine = await V86Machine.create({
    memoryBytes: 128 * 1024 * 1024,
    images: { bios: bios!, vgaBios: vgaBios!, kernel: kernel!, initrd: initrd! },
    cmdline: bootCommandLine({ name: 'a', ip: ['10.0.0.1/24'], hosts: { a: '10.0.0.1' } }),
    setup: (platform) => void factory(platform, { mac: Uint8Array.of(2, 0x76, 0x6d, 1, 0, 0) }),
  });
  try {
    const watcher = new PromptWatcher();
    const decoder = new TextDecoder();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the Node guest did not reach a prompt in 5 minutes')), 300_000);
      machine.onSerialOutput((bytes) => {
        if (watcher.feedBoot(decoder.decode(bytes, { stream: true }))) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return performance.now() - started;
  } finally {
    await machine.destroy();
  }
}

export async function run(): Promise<BenchEntry[]> {
  const entries: BenchEntry[] = [];
  const nodeRuns: number[] = [];
  for (let i = 0; i < RUNS; i++) nodeRuns.push(await nodeColdBootMs());
  const nodeCold = median(nodeRuns);
  entries.push({ name: 'web.node.boot.cold.ms', value: nodeCold, unit: 'ms' });

  const lab = await openLab();
  try {
    const { page } = lab;
    // Cold boots, one at a time, each a fresh VM (fresh worker).
    const cold: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `c${i}`;
      await addVm(page, name, 'e1000', 'cold');
      cold.push((await timedStart(page, name, 'cold')).ms);
      await stopVm(page, name);
    }
    const webCold = median(cold);
    entries.push({ name: 'web.boot.cold.ms', value: webCold, unit: 'ms', baseline: 'web.node.boot.cold.ms', ratio: webCold / nodeCold });

    const snapshots = await page.evaluate(async () => ((await (await fetch('lab.json')).json()) as { snapshots: Record<string, string> }).snapshots);
    if (snapshots.e1000) {
      const restored: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const name = `s${i}`;
        await addVm(page, name, 'e1000', 'snapshot');
        const { ms, from } = await timedStart(page, name, 'snapshot');
        if (from !== 'snapshot') throw new Error(`${name} booted ${from}, not from the snapshot`);
        restored.push(ms);
        await stopVm(page, name);
      }
      entries.push({ name: 'web.boot.snapshot.ms', value: median(restored), unit: 'ms', baseline: 'web.boot.cold.ms', ratio: median(restored) / webCold });
    } else {
      console.error('bench web: the server offers no template snapshot for e1000; web.boot.snapshot.ms not measured');
    }

    // RTT between two browser VMs through the page's switch.
    await addVm(page, 'a', 'e1000', 'snapshot');
    await addVm(page, 'b', 'virtio', 'snapshot');
    await Promise.all([timedStart(page, 'a', 'snapshot'), timedStart(page, 'b', 'snapshot')]);
    await typeInto(page, 'a', 'ping -c 3 -W 5 b >/dev/null; ping -c 20 -i 0.2 b\n');
    const text = await waitForTerminal(page, 'a', /rtt min\/avg\/max = [\d.]+\/[\d.]+\/[\d.]+ ms|round-trip min\/avg\/max = [\d.]+\/[\d.]+\/[\d.]+ ms/, 120_000);
    const match = /min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(text)!;
    entries.push({ name: 'web.rtt.ms', value: Number(match[2]), unit: 'ms' });
    if (lab.problems.length) console.error(`bench web: the page reported problems:\n  ${lab.problems.join('\n  ')}`);
  } finally {
    await lab.close();
  }
  return entries;
}

// Run alone: `node --import tsx bench/web.ts`.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const entry of await run()) console.log(`${entry.name.padEnd(26)} ${entry.value.toFixed(1).padStart(10)} ${entry.unit}${entry.ratio !== undefined ? `  (${entry.ratio.toFixed(2)}x ${entry.baseline})` : ''}`);
}
