// The page: controls, a terminal per VM, the switch panel, on host/lab's Lab
// (the same Lab as in Node) with each VM in its own Web Worker
// (emulator/worker/browser-launch.ts). This file only wires it to the DOM.
// With a lab file (`vmswitch web --file`, lab.json's labFile) the page runs
// that file's LabTopology instead, and draws it (topology-view.ts).
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Lab, type LabVm, type LabVmState } from '../../host/lab/lab.ts';
import type { LabGuest, LaunchGuest } from '../../host/lab/guest.ts';
import { PcapngCapture } from '../../host/extensions/capture/capture.ts';
import { browserLaunch } from '../../emulator/worker/browser-launch.ts';
import { IMAGE_URLS, type ImageUrls } from '../../emulator/worker/browser-options.ts';
import { VmThread } from '../../emulator/worker/vm-thread.ts';
import type { NicModel } from '../../emulator/net/nic.ts';
import { FrameLog } from './frame-log.ts';
import { SwitchPanel } from './panel.ts';
import { connectSharedSwitch, sharedSwitchUrl, type SharedConnection } from './shared-uplink.ts';
import { TopologyView } from './topology-view.ts';
import { LabTopology } from '../../host/lab/topology.ts';
import { parseLabFile, LabFileError, formatIssue } from '../../host/lab/file/index.ts';

export type BootMode = 'snapshot' | 'cold';

/** What the server says about this lab (`lab.json`): where the image is and which snapshots exist. */
interface LabConfig {
  image: ImageUrls;
  /** NIC model list joined with '+' (e.g. 'e1000', 'e1000+virtio') -> snapshot URL. */
  snapshots: Record<string, string>;
  memoryMiB?: number;
  /** Present when the server hosts a shared switch (`web --shared`): every page joins it. */
  shared?: { path: string };
  /** A lab file to run instead of the one-switch lab (`vmswitch web --file`). */
  labFile?: { name: string; text: string };
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

/** The page's own view of a VM: what it was added with, and its last start as the page saw it. */
interface VmView {
  name: string;
  nics: NicModel[];
  boot: BootMode;
  card: HTMLElement;
  terminal: Terminal;
  fit: FitAddon;
  /** The last progress line of a start (fetching, booting, restoring, personalising). */
  phase: string;
  detail: string;
  startedAt: number;
  /** Start to prompt and connected NICs, ms, of the last start. */
  bootMs: number | undefined;
  bootedFrom: BootMode | undefined;
}

const absolute = (url: string) => new URL(url, location.href).href;
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,14}$/;
const MAX_VMS = 254;

/** v86's wasm, compiled once by the page and shared with every VM's worker. */
function sharedWasm(url: string): () => Promise<WebAssembly.Module | undefined> {
  let module: Promise<WebAssembly.Module | undefined> | undefined;
  return () =>
    (module ??= WebAssembly.compileStreaming(fetch(url)).catch((error: unknown) => {
      // Each worker then compiles its own (the adapter's default): slower, but it works.
      console.warn('vmswitch: compiling v86.wasm on the page failed:', error);
      return undefined;
    }));
}

/** How the page starts a VM: in its own Web Worker, its console handed to the page as soon as it is up. */
function pageLaunch(config: LabConfig, onGuest: (name: string, guest: LabGuest) => void): LaunchGuest {
  const image: ImageUrls = {
    kernel: absolute(config.image.kernel),
    initrd: absolute(config.image.initrd),
    bios: absolute(config.image.bios),
    vgaBios: absolute(config.image.vgaBios),
    wasm: absolute(config.image.wasm),
  };
  const launchInWorker = browserLaunch({
    createWorker: (name) => new Worker(new URL('vm-worker.js', location.href), { type: 'module', name: `vm ${name}` }),
    image,
    ...(config.memoryMiB ? { memoryMiB: config.memoryMiB } : {}),
    wasm: sharedWasm(image.wasm),
    // Asked afresh at each start: templates appear (made in the background) and change with the image.
    snapshotFor: async (models) => {
      const url = (await loadConfig()).snapshots[models.join('+')];
      return url ? absolute(url) : undefined;
    },
  });
  // The terminal listens from the moment the VM is up, before the Lab attaches its NICs: nothing it prints is missed.
  const launch: LaunchGuest = async (options) => {
    const guest = await launchInWorker(options);
    onGuest(options.name, guest);
    return guest;
  };
  return launch;
}

/** A cold-booted VM joins the switch as it boots: its driver binds (NIC_CONNECT) a minute later in a busy browser. */
const CONNECT_TIMEOUT_MS = 300_000;

/**
 * The page's Lab and switch: host/lab's Lab (capture, ACL, MAC learning) plus
 * the panel's frame log. Whatever else joins the page's switch (an uplink to
 * `vmswitch web --shared`) attaches here, to `lab.switch`.
 */
function createPageLab(config: LabConfig, onGuest: (name: string, guest: LabGuest) => void, sharedMtu?: number): { lab: Lab; frameLog: FrameLog } {
  const launch = pageLaunch(config, onGuest);
  // The guests' own MTU (1500) unless the shared switch's differs: setting it is two execs racing the user's first typing.
  const vmMtu = sharedMtu !== undefined && sharedMtu !== 1500 ? sharedMtu : null;
  const lab = new Lab({ name: 'lab', launch, capture: new PcapngCapture({ name: 'capture' }), connectTimeoutMs: CONNECT_TIMEOUT_MS, vmMtu });
  const frameLog = new FrameLog();
  lab.switch.addExtension(frameLog);
  return { lab, frameLog };
}

/**
 * Joins the server's shared switch (`web --shared`) through the lab's external
 * port. Refused (full, another origin), unreachable or vetoed: the page still
 * works, on its own, and says so.
 */
async function joinSharedSwitch(config: LabConfig): Promise<SharedConnection | undefined> {
  if (!config.shared) return undefined;
  const shared = await connectSharedSwitch(sharedSwitchUrl(location, config.shared.path)).catch((error: Error) => {
    console.warn(error.message);
    return undefined;
  });
  if (!shared) showMessage('could not join the shared switch (full, or the server is gone): VMs here reach only each other', 'error');
  return shared;
}

/**
 * The lab file's switches, links and VMs (none started) on the page's
 * launch. Capture files stay in memory (the topology says so in a progress
 * event); the server has refused uplinks already.
 */
async function createFileLab(config: LabConfig, file: { name: string; text: string }, onGuest: (name: string, guest: LabGuest) => void): Promise<{ topo: LabTopology; frameLog: FrameLog }> {
  let plan;
  try {
    plan = parseLabFile(file.text, { file: file.name });
  } catch (error) {
    if (error instanceof LabFileError) throw new Error(formatIssue(error.issues[0]!));
    throw error;
  }
  const topo = await LabTopology.create(plan, { launch: pageLaunch(config, onGuest), connectTimeoutMs: CONNECT_TIMEOUT_MS });
  // The panel's frame list follows the first switch, as its port table does.
  const frameLog = new FrameLog();
  topo.lab.switch.addExtension(frameLog);
  return { topo, frameLog };
}

async function main(): Promise<void> {
  const config = await loadConfig();
  // The shared switch's hello gives this page its VM MACs and addresses, so it comes before the first VM.
  // A lab file names its own addresses: such a page does not join.
  let shared = config.labFile ? undefined : await joinSharedSwitch(config);
  const views = new Map<string, VmView>();
  const onGuest = (name: string, guest: LabGuest) => {
    const view = views.get(name);
    if (view) view.bootedFrom = guest instanceof VmThread && guest.startInfo.kind === 'snapshot' ? 'snapshot' : 'cold';
    const decoder = new TextDecoder();
    guest.console.onData((bytes) => views.get(name)?.terminal.write(decoder.decode(bytes, { stream: true })));
  };
  const fileLab = config.labFile ? await createFileLab(config, config.labFile, onGuest) : undefined;
  const { lab, frameLog } = fileLab ? { lab: fileLab.topo.lab, frameLog: fileLab.frameLog } : createPageLab(config, onGuest, shared?.hello.mtu);
  const topo = fileLab?.topo;
  if (shared) {
    try {
      await shared.attach(lab);
      showMessage(`joined the shared switch as page ${shared.hello.page}: VMs here get ${shared.hello.ipBase}.N/${shared.hello.prefixLength}`);
      shared.uplink.onStateChange((up) => !up && showMessage('the shared switch closed the connection: VMs here reach only each other now', 'error'));
    } catch (error) {
      await shared.uplink.close();
      shared = undefined;
      showMessage(`could not join the shared switch (${(error as Error).message}): VMs here reach only each other`, 'error');
    }
  }
  /**
   * A VM's NICs as the Lab takes them. On the shared switch each gets the MAC
   * and eth0 the address the server's hello assigned (VM number N: its place on
   * the page, as Lab.define numbers it); otherwise the Lab's own defaults.
   */
  const nicSpecs = (name: string, nics: NicModel[]) => (shared ? shared.addressing.nics(lab.vm(name)?.order ?? lab.vms().length + 1, nics) : nics);
  const startedAt = Date.now();
  new SwitchPanel({ lab, frameLog, startedAt }, $('#switch'));
  const topologyView = topo ? showTopology(topo) : undefined;

  lab.on('vm', ({ vm: name, state, detail }) => {
    const view = views.get(name);
    const vm = lab.vm(name);
    if (!view || !vm) return;
    view.detail = detail ?? '';
    if (state === 'running') {
      view.bootMs = performance.now() - view.startedAt;
    }
    if (state === 'stopped' && detail === 'guest poweroff') showMessage(`${name}: the guest powered off`);
    if (state === 'failed' && detail) showMessage(`${name}: ${detail}`, 'error');
    renderVmHeader(vm, view);
  });
  lab.on('progress', ({ vm: name, message }) => {
    const view = name ? views.get(name) : undefined;
    const vm = name ? lab.vm(name) : undefined;
    if (!view || !vm) return showMessage(message);
    view.phase = message;
    renderVmHeader(vm, view);
  });
  // The header names the VM's ports as soon as they exist (a cold boot's, long before it is running).
  lab.on('oid', ({ vm: name, oid }) => {
    const view = name ? views.get(name) : undefined;
    const vm = name ? lab.vm(name) : undefined;
    if (view && vm && (oid === 'OID_SWITCH_NIC_CREATE' || oid === 'OID_SWITCH_PORT_DELETE')) renderVmHeader(vm, view);
  });
  lab.on('fault', (fault) => showMessage(`${fault.vm}: ${fault.nic} failed and is out of service: ${fault.message}`, 'error'));

  /** A VM the Lab has defined but never started is 'stopped' to the page. */
  const pageState = (state: LabVmState): string => (state === 'defined' ? 'stopped' : state);

  /** What tests (and the curious) read of a VM: the Lab's state and the page's view of its last start. */
  function vmInfo(name: string) {
    const vm = lab.vm(name);
    const view = views.get(name);
    if (!vm || !view) return undefined;
    return { state: pageState(vm.state), phase: view.phase, detail: view.detail, bootedFrom: view.bootedFrom, bootMs: view.bootMs, portIds: [...vm.portIds] };
  }

  function renderVmHeader(vm: LabVm, view: VmView): void {
    const card = view.card;
    const state = pageState(vm.state);
    card.dataset.state = state;
    card.dataset.phase = view.phase;
    const badge = card.querySelector<HTMLElement>('.vm-state')!;
    badge.textContent = state === 'starting' && view.phase ? `${view.phase}…` : state;
    badge.className = `badge vm-state state-${state}`;
    const portIds = lab.ports().filter((port) => port.vm === vm.name && port.portState !== 'deleted').map((port) => port.portId);
    const ports = portIds.length ? ` · port ${portIds.join(', ')}` : '';
    const boot = view.bootMs !== undefined ? ` · ${view.bootedFrom} start ${(view.bootMs / 1000).toFixed(1)} s` : '';
    card.querySelector<HTMLElement>('.vm-info')!.textContent = `${view.nics.join('+')} · ${vm.address ?? 'no address'}${ports}${boot}`;
    const running = state === 'starting' || state === 'running' || state === 'stopping';
    card.querySelector<HTMLButtonElement>('.start')!.disabled = running;
    card.querySelector<HTMLButtonElement>('.stop')!.disabled = !running || state === 'stopping';
    card.querySelector<HTMLSelectElement>('.boot')!.disabled = running;
  }

  function addVmView(vm: LabVm, nics: NicModel[], boot: BootMode): void {
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
    card.querySelector<HTMLSelectElement>('.boot')!.value = boot;
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
    terminal.onData((data) => lab.vm(vm.name)?.guest?.console.write?.(data));
    terminal.writeln(`\x1b[90m${vm.name}: ${nics.join(' + ')}, ${vm.nics[0]?.ip ?? 'no address'} — press Start\x1b[0m`);
    const view: VmView = { name: vm.name, nics, boot, card, terminal, fit, phase: '', detail: '', startedAt: 0, bootMs: undefined, bootedFrom: undefined };
    views.set(vm.name, view);
    card.querySelector('.start')!.addEventListener('click', () => {
      view.boot = card.querySelector<HTMLSelectElement>('.boot')!.value as BootMode;
      view.startedAt = performance.now();
      view.bootMs = undefined;
      view.bootedFrom = undefined;
      view.phase = 'loading';
      terminal.reset();
      // A lab file's VM keeps its definition (switches, addresses, set-up); only the boot choice changes.
      if (topo) vm.template = view.boot === 'snapshot';
      const started = topo ? lab.start(vm.name) : lab.start(vm.name, { nics: nicSpecs(vm.name, view.nics), template: view.boot === 'snapshot' });
      started.then(
        () => showMessage(`${vm.name} is up (${view.bootedFrom} start, ${((view.bootMs ?? 0) / 1000).toFixed(1)} s)`),
        (error: Error) => showMessage(`${vm.name}: ${error.message}`, 'error'),
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

  /** Checks a new VM; returns the problem in words, or undefined. */
  function specProblem(name: string, nics: string[]): string | undefined {
    if (!NAME_PATTERN.test(name)) return `VM name '${name}' must be a lower-case letter then up to 14 letters, digits or '-'`;
    if (lab.vm(name)) return `there is already a VM named '${name}'`;
    if (!nics.length) return 'a VM needs at least one NIC';
    if (nics.length > 2) return 'at most two NICs per VM';
    if (lab.vms().length >= MAX_VMS) return 'the lab has run out of addresses';
    return undefined;
  }

  $('#add-vm').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $<HTMLInputElement>('#vm-name').value.trim();
    const nics = [$<HTMLSelectElement>('#vm-nic0').value, $<HTMLSelectElement>('#vm-nic1').value].filter(Boolean) as NicModel[];
    const boot = $<HTMLSelectElement>('#vm-boot').value as BootMode;
    const problem = specProblem(name, nics);
    if (problem) return showMessage(problem, 'error');
    let vm: LabVm;
    try {
      // Defined now, so that VMs started before this one already resolve its name.
      vm = lab.define(name, { nics: nicSpecs(name, nics), template: boot === 'snapshot' });
    } catch (error) {
      return showMessage((error as Error).message, 'error');
    }
    addVmView(vm, nics, boot);
    showMessage(`added ${name}`);
    // Suggest the next name: a -> b -> c ...
    const next = String.fromCharCode(name.charCodeAt(name.length - 1) + 1);
    if (/^[a-y]$/.test(name)) $<HTMLInputElement>('#vm-name').value = next;
  });

  // The plain lab's one capture, or each lab-file switch's (those the file asks for; kept in memory).
  const captures: { name: string; capture: PcapngCapture }[] = topo
    ? [...topo.switches.values()].flatMap((sw) => (sw.capture ? [{ name: sw.plan.name, capture: sw.capture }] : []))
    : [{ name: 'lab', capture: lab.capture! }];
  if (!captures.length) {
    $<HTMLInputElement>('#capture-toggle').disabled = true;
    $<HTMLButtonElement>('#download-pcap').disabled = true;
    $<HTMLButtonElement>('#download-pcap').title = 'No switch of the lab file has a capture';
  } else if (topo) {
    $<HTMLInputElement>('#capture-toggle').checked = captures.some((c) => c.capture.enabled);
  }

  $<HTMLInputElement>('#capture-toggle').addEventListener('change', (event) => {
    for (const { capture } of captures) capture.enabled = (event.target as HTMLInputElement).checked;
  });

  $('#download-pcap').addEventListener('click', () => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const { name, capture } of captures) {
      const url = URL.createObjectURL(new Blob([capture.bytes() as Uint8Array<ArrayBuffer>], { type: 'application/x-pcapng' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = `vmswitch-${name}-${stamp}.pcapng`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    }
  });

  if (topo) {
    // The file's VMs, each with its card; the form for new VMs is the plain lab's.
    $('#add-vm').hidden = true;
    for (const planVm of topo.plan.vms) addVmView(lab.vm(planVm.name)!, planVm.nics.map((nic) => nic.model), 'snapshot');
    const startAll = $<HTMLButtonElement>('#start-all');
    startAll.hidden = false;
    startAll.addEventListener('click', () => {
      for (const button of document.querySelectorAll<HTMLButtonElement>('.vm button.start')) if (!button.disabled) button.click();
    });
  }

  // For tests and the curious: the lab (host/lab's Lab), the page's view of each VM, and the terminals' text.
  Object.assign(window, {
    vmswitch: {
      lab,
      topology: topo,
      topologyView,
      frameLog,
      shared,
      vmInfo,
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

/** Shows the topology card and draws the lab file's picture in it. */
function showTopology(topo: LabTopology): TopologyView {
  $('#topology-card').hidden = false;
  $('#topology-name').textContent = topo.plan.name ?? '';
  $('#switch-name').textContent = topo.lab.switch.name;
  document.title = `vmswitch lab: ${topo.plan.name ?? 'lab file'}`;
  return new TopologyView(topo, $('#topology'));
}

main().catch((error: Error) => {
  showMessage(`the lab failed to start: ${error.message}`, 'error');
  console.error(error);
});
