// The page: controls, a terminal per VM, the switch panel. The lab model
// (switch + workers) is in lab.ts; this file only wires it to the DOM.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Lab, type BootMode, type LabVm } from './lab.ts';
import { SwitchPanel } from './panel.ts';
import type { NicModel } from '../../emulator/net/nic.ts';
import { IMAGE_URLS, type ImageUrls } from '../worker/protocol.ts';
import { connectSharedSwitch, sharedSwitchUrl } from './shared-uplink.ts';

/** What the server says about this lab (`lab.json`): where the image is and which snapshots exist. */
interface LabConfig {
  image: ImageUrls;
  /** NIC model list joined with '+' (e.g. 'e1000', 'e1000+virtio') -> snapshot URL. */
  snapshots: Record<string, string>;
  memoryMiB?: number;
  /** Present when the server hosts a shared switch (`web --shared`): every page joins it. */
  shared?: { path: string };
}

const DEFAULT_CONFIG: LabConfig = {
  image: IMAGE_URLS,
  snapshots: {},
};

async function loadConfig(): Promise<LabConfig> {
  try {
    const response = await fetch('lab.json', { cache: 'no-store' });
    if (!response.ok) return DEFAULT_CONFIG;
    return { ...DEFAULT_CONFIG, ...((await response.json()) as Partial<LabConfig>) };
  } catch {
    return DEFAULT_CONFIG;
  }
}

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;

function showMessage(text: string, level: 'info' | 'error' = 'info'): void {
  const box = $('#message');
  box.textContent = text;
  box.className = `message ${level}`;
}

interface VmView {
  card: HTMLElement;
  terminal: Terminal;
  fit: FitAddon;
}

const absolute = (url: string) => new URL(url, location.href).href;

async function main(): Promise<void> {
  const config = await loadConfig();
  const image: ImageUrls = {
    kernel: absolute(config.image.kernel),
    initrd: absolute(config.image.initrd),
    bios: absolute(config.image.bios),
    vgaBios: absolute(config.image.vgaBios),
    wasm: absolute(config.image.wasm),
  };
  // The shared switch's hello gives this page its VM MACs and addresses, so it comes before the lab.
  // Refused (full, another origin) or unreachable: the page still works, on its own.
  const shared = config.shared
    ? await connectSharedSwitch(sharedSwitchUrl(location, config.shared.path)).catch((error: Error) => {
        console.warn(error.message);
        return undefined;
      })
    : undefined;
  const lab = new Lab({
    ...(shared ? { addressing: shared.addressing } : {}),
    createWorker: (name) => new Worker(new URL('vm-worker.js', location.href), { type: 'module', name: `vm ${name}` }) as unknown as import('./lab.ts').WorkerLike,
    image,
    memoryMiB: config.memoryMiB,
    // Asked afresh at each start: templates appear (made in the background) and change with the image.
    snapshotFor: async (models) => {
      const url = (await loadConfig()).snapshots[models.join('+')];
      return url ? absolute(url) : undefined;
    },
  });
  if (shared) {
    await shared.attach(lab.sw);
    showMessage(`joined the shared switch as page ${shared.hello.page}: VMs here get ${shared.hello.ipBase}.N/${shared.hello.prefixLength}`);
    shared.uplink.onStateChange((up) => !up && showMessage('the shared switch closed the connection: VMs here reach only each other now', 'error'));
  } else if (config.shared) {
    showMessage('could not join the shared switch (full, or the server is gone): VMs here reach only each other', 'error');
  }
  new SwitchPanel(lab, $('#switch'));
  const views = new Map<string, VmView>();

  lab.events.on('console', ({ name, text }) => views.get(name)?.terminal.write(text));
  lab.events.on('vm', ({ name }) => {
    const vm = lab.vms.get(name);
    if (vm) renderVmHeader(vm, views.get(name));
  });
  lab.events.on('log', ({ level, message }) => showMessage(message, level));

  function renderVmHeader(vm: LabVm, view: VmView | undefined): void {
    if (!view) return;
    const card = view.card;
    card.dataset.state = vm.state;
    card.dataset.phase = vm.phase;
    const state = card.querySelector<HTMLElement>('.vm-state')!;
    const label = vm.state === 'starting' && vm.phase !== 'idle' ? `${vm.phase}…` : vm.state;
    state.textContent = label;
    state.className = `badge vm-state state-${vm.state}`;
    const ports = vm.portIds.length ? ` · port ${vm.portIds.join(', ')}` : '';
    const boot = vm.bootMs !== undefined ? ` · ${vm.bootedFrom} start ${(vm.bootMs / 1000).toFixed(1)} s` : '';
    card.querySelector<HTMLElement>('.vm-info')!.textContent = `${vm.spec.nics.join('+')} · ${vm.ip}${ports}${boot}`;
    const running = vm.state === 'starting' || vm.state === 'running' || vm.state === 'stopping';
    card.querySelector<HTMLButtonElement>('.start')!.disabled = running;
    card.querySelector<HTMLButtonElement>('.stop')!.disabled = !running || vm.state === 'stopping';
    card.querySelector<HTMLSelectElement>('.boot')!.disabled = running;
  }

  function addVmView(vm: LabVm): void {
    $('.empty-vms')?.remove();
    const card = document.createElement('article');
    card.className = 'vm';
    card.dataset.name = vm.name;
    card.innerHTML = `
      <header>
        <span class="vm-name"></span>
        <span class="vm-info"></span>
        <div class="vm-actions">
          <span class="badge vm-state"></span>
          <select class="boot" title="Start from the template snapshot or boot cold">
            <option value="snapshot">snapshot</option><option value="cold">cold</option>
          </select>
          <button type="button" class="start primary">Start</button>
          <button type="button" class="stop danger">Stop</button>
        </div>
      </header>
      <div class="terminal"></div>`;
    card.querySelector('.vm-name')!.textContent = vm.name;
    card.querySelector<HTMLSelectElement>('.boot')!.value = vm.spec.boot;
    $('#vms').append(card);
    const terminal = new Terminal({
      convertEol: false,
      cursorBlink: true,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace",
      fontSize: 13,
      scrollback: 5000,
      theme: { background: '#000000', foreground: '#d7dde5' },
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(card.querySelector<HTMLElement>('.terminal')!);
    new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        // Hidden or zero-sized for a moment: the next resize fits it.
      }
    }).observe(card.querySelector<HTMLElement>('.terminal')!);
    terminal.onData((data) => lab.input(vm.name, data));
    terminal.writeln(`\x1b[90m${vm.name}: ${vm.spec.nics.join(' + ')}, ${vm.ip}/${vm.prefixLength} — press Start\x1b[0m`);
    const view: VmView = { card, terminal, fit };
    views.set(vm.name, view);
    card.querySelector('.start')!.addEventListener('click', () => {
      const boot = card.querySelector<HTMLSelectElement>('.boot')!.value as BootMode;
      terminal.reset();
      lab.start(vm.name, boot).then(
        () => showMessage(`${vm.name} is up (${vm.bootedFrom} start, ${((vm.bootMs ?? 0) / 1000).toFixed(1)} s)`),
        (error: Error) => showMessage(error.message, 'error'),
      );
      terminal.focus();
    });
    card.querySelector('.stop')!.addEventListener('click', () => {
      lab.stop(vm.name).then(
        () => terminal.writeln(`\r\n\x1b[90m[${vm.name} stopped]\x1b[0m`),
        (error: Error) => showMessage(error.message, 'error'),
      );
    });
    renderVmHeader(vm, view);
  }

  $('#add-vm').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $<HTMLInputElement>('#vm-name').value.trim();
    const nics = [$<HTMLSelectElement>('#vm-nic0').value, $<HTMLSelectElement>('#vm-nic1').value].filter(Boolean) as NicModel[];
    const boot = $<HTMLSelectElement>('#vm-boot').value as BootMode;
    const problem = lab.specProblem({ name, nics });
    if (problem) return showMessage(problem, 'error');
    const vm = lab.addVm({ name, nics, boot });
    addVmView(vm);
    showMessage(`added ${name}`);
    // Suggest the next name: a -> b -> c ...
    const next = String.fromCharCode(name.charCodeAt(name.length - 1) + 1);
    if (/^[a-y]$/.test(name)) $<HTMLInputElement>('#vm-name').value = next;
  });

  $<HTMLInputElement>('#capture-toggle').addEventListener('change', (event) => {
    lab.setCapture((event.target as HTMLInputElement).checked);
  });

  $('#download-pcap').addEventListener('click', () => {
    const bytes = lab.pcapng();
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/x-pcapng' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `vmswitch-lab-${new Date().toISOString().replace(/[:.]/g, '-')}.pcapng`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  // For tests and the curious: the lab and the terminals' text.
  Object.assign(window, {
    vmswitch: {
      lab,
      shared,
      terminalText(name: string): string {
        const terminal = views.get(name)?.terminal;
        if (!terminal) return '';
        const buffer = terminal.buffer.active;
        const lines: string[] = [];
        for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
        return lines.join('\n');
      },
    },
  });
  document.body.dataset.ready = 'true';
}

main().catch((error: Error) => {
  showMessage(`the lab failed to start: ${error.message}`, 'error');
  console.error(error);
});
