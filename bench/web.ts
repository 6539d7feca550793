// `npm run bench -- web`: the browser lab, driven by Puppeteer.
//   web.boot.cold.ms      Start click to a shell prompt, cold boot, in a Worker (median of runs)
//   web.boot.snapshot.ms  the same from the template snapshot (restore + personalisation)
//   web.rtt.ms            ping RTT a (e1000) -> b (virtio-net) through the page's switch (median of 20)
// Baselines in the same run, in Node through the runtime the Node lab uses
// (same image, NIC models and template): web.node.boot.cold.ms,
// web.node.boot.template.ms, web.node.rtt.ms; each web figure carries its
// browser/Node ratio.
import type { BenchEntry } from './types.ts';
import { openLab, addVm, typeInto, waitForTerminal } from '../test/e2e/browser.ts';
import { ensureTemplates } from '../web/snapshots.ts';

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

type NodeVm = import('../emulator/vm.ts').VirtualMachine;

/** The same starts in Node, through the runtime the Node lab uses: cold and from the template. */
async function nodeStartMs(mode: 'cold' | 'template'): Promise<number> {
  const { VirtualMachine } = await import('../emulator/vm.ts');
  const vm = await VirtualMachine.start({ name: 'a', nics: [{ model: 'e1000' }], ip: ['10.0.0.1/24'], template: mode === 'template' });
  try {
    if (mode === 'template' && vm.startInfo.kind !== 'template') throw new Error(`the Node VM started as '${vm.startInfo.kind}', not from the template`);
    return vm.startInfo.ms;
  } finally {
    await vm.stop();
  }
}

/** Median of the per-reply times ping printed (robust to the odd stall of a shared, loaded machine). */
function parseMedianRtt(text: string): number {
  const times = [...text.matchAll(/ time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < 10) throw new Error(`too few ping replies (${times.length}) in: ${text.slice(-300)}`);
  return median(times);
}

const RTT_PING = 'ping -c 3 -W 5 b >/dev/null; ping -c 20 -i 0.2 b';

/** a (e1000) pings b (virtio-net) through a Switch in Node: the figure web.rtt.ms is set beside. */
async function nodeRttMs(): Promise<number> {
  const { VirtualMachine } = await import('../emulator/vm.ts');
  const { Switch } = await import('../host/index.ts');
  const { SwitchPortAttachment } = await import('../host/attach.ts');
  const sw = new Switch({ name: 'bench' });
  const hosts = { a: '10.0.0.1', b: '10.0.0.2' };
  const vms: NodeVm[] = [];
  try {
    vms.push(await VirtualMachine.start({ name: 'a', nics: [{ model: 'e1000' }], ip: ['10.0.0.1/24'], hosts, template: true }));
    vms.push(await VirtualMachine.start({ name: 'b', nics: [{ model: 'virtio' }], ip: ['10.0.0.2/24'], hosts, template: true }));
    const attachments = await Promise.all(vms.map((vm) => SwitchPortAttachment.attach(sw, vm.nics[0]!, { vmName: vm.name, index: 0 })));
    const result = await vms[0]!.exec(RTT_PING, { timeoutMs: 120_000 });
    if (result.exitCode !== 0) throw new Error(`ping in Node failed: ${result.output}`);
    for (const attachment of attachments) await attachment.detach();
    return parseMedianRtt(result.output);
  } finally {
    for (const vm of vms) await vm.stop();
  }
}

export async function run(): Promise<BenchEntry[]> {
  const entries: BenchEntry[] = [];
  // Node first (templates made here if missing), one VM at a time.
  // Make the templates first if the image changed since they were made (not measured).
  await ensureTemplates((line) => console.error(`bench web: ${line}`));
  const nodeCold = median(await repeat(() => nodeStartMs('cold')));
  const nodeTemplate = median(await repeat(() => nodeStartMs('template')));
  const nodeRtt = await nodeRttMs();
  entries.push({ name: 'web.node.boot.cold.ms', value: nodeCold, unit: 'ms' });
  entries.push({ name: 'web.node.boot.template.ms', value: nodeTemplate, unit: 'ms' });
  entries.push({ name: 'web.node.rtt.ms', value: nodeRtt, unit: 'ms' });

  const lab = await openLab();
  try {
    const { page } = lab;
    // RTT between two browser VMs through the page's switch (first, on a fresh page).
    await addVm(page, 'a', 'e1000', 'snapshot');
    await addVm(page, 'b', 'virtio', 'snapshot');
    await Promise.all([timedStart(page, 'a', 'snapshot'), timedStart(page, 'b', 'snapshot')]);
    await waitForTerminal(page, 'a', /^a:~# /m, 30_000);
    await typeInto(page, 'a', RTT_PING + '\n');
    const text = await waitForTerminal(page, 'a', /20 packets transmitted[^\n]*\n[^\n]*min\/avg\/max[^\n]* ms/, 120_000);
    const webRtt = parseMedianRtt(text.slice(text.lastIndexOf('ping -c 20')));
    entries.push({ name: 'web.rtt.ms', value: webRtt, unit: 'ms', baseline: 'web.node.rtt.ms', ratio: webRtt / nodeRtt });
    await stopVm(page, 'a');
    await stopVm(page, 'b');

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

    const restored: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `s${i}`;
      await addVm(page, name, 'e1000', 'snapshot');
      const { ms, from } = await timedStart(page, name, 'snapshot');
      if (from !== 'snapshot') throw new Error(`${name} booted ${from}, not from the template snapshot`);
      restored.push(ms);
      await stopVm(page, name);
    }
    const webSnapshot = median(restored);
    entries.push({ name: 'web.boot.snapshot.ms', value: webSnapshot, unit: 'ms', baseline: 'web.node.boot.template.ms', ratio: webSnapshot / nodeTemplate });

    if (lab.problems.length) console.error(`bench web: the page reported problems:\n  ${lab.problems.join('\n  ')}`);
  } finally {
    await lab.close();
  }
  return entries;
}

async function repeat(measure: () => Promise<number>): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await measure());
  return values;
}

// Run alone: `node --import tsx bench/web.ts`.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const entry of await run()) console.log(`${entry.name.padEnd(26)} ${entry.value.toFixed(1).padStart(10)} ${entry.unit}${entry.ratio !== undefined ? `  (${entry.ratio.toFixed(2)}x ${entry.baseline})` : ''}`);
}
