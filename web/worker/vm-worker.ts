// One VM in a Web Worker: v86 through the project's adapter, our NIC models
// from the device registry, the image fetched over HTTP. Frames, driver
// events and console bytes go to the page by message; the switch is there.
import './browser-globals.ts';
import type { GuestNic } from '../../emulator/net/nic.ts';
import type { Frame } from '../../emulator/net/frame.ts';
import { formatMac, parseMac } from '../../emulator/net/frame.ts';
import type { V86Machine } from '../../emulator/v86/adapter.ts';
import { toWire, fromWire, type FromWorker, type ToWorker, type VmBootConfig } from './protocol.ts';
import { wireDriverEvent as wireEvent, wireOffloads } from '../../emulator/worker/wire.ts';
import { GuestEndWatch } from '../../emulator/guest-end.ts';
import { bootCommandLine, PromptWatcher, personaliseCommand } from './guest-setup.ts';
import { fetchBytes } from './fetch.ts';
import { createContainedNic } from '../../emulator/net/contain.ts';
import { decodeSnapshot, type DecodedSnapshot } from '../../emulator/snapshot.ts';

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
}
const scope = self as unknown as WorkerScope;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

let machine: V86Machine | null = null;
let nics: GuestNic[] = [];
let stopping = false;
let counterTimer: ReturnType<typeof setInterval> | undefined;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Console bytes are held back while the worker itself talks to the shell (snapshot personalisation). */
let consoleGate: ((text: string) => boolean) | null = null;
let consoleText = '';
let consoleFlush = false;
const guestEnd = new GuestEndWatch();
let poweredOff = false;

/** Per NIC, guest transmits of one task go out as one message. */
function transmitSink(index: number) {
  let pending: Frame[] = [];
  let scheduled = false;
  return {
    deliver(frames: readonly Frame[]): void {
      for (const frame of frames) pending.push(frame);
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        const batch = pending;
        pending = [];
        const transfer: ArrayBuffer[] = [];
        post({ type: 'frames', nic: index, frames: batch.map((f) => toWire(f, transfer)) }, transfer);
      });
    },
  };
}

function flushConsole(): void {
  const out = consoleText;
  consoleText = '';
  if (out) post({ type: 'console', text: out });
}

function onConsole(bytes: Uint8Array): void {
  const text = decoder.decode(bytes, { stream: true });
  if (consoleGate && !consoleGate(text)) return;
  consoleText += text;
  // Only a poweroff or halt ends the worker's VM (the Node runtime also ends on a reboot; the page never did).
  if (!poweredOff && guestEnd.feed(text) === 'poweroff') {
    poweredOff = true;
    // The guest's poweroff: its last words first, then the page runs the stop lifecycle and stops this worker.
    flushConsole();
    post({ type: 'phase', phase: 'stopped', detail: 'guest poweroff' });
    return;
  }
  if (consoleFlush) return;
  consoleFlush = true;
  // Coalesce: the serial port delivers a byte at a time.
  setTimeout(() => {
    consoleFlush = false;
    flushConsole();
  }, 16);
}

function announceNics(config: VmBootConfig): void {
  post({
    type: 'nics',
    nics: nics.map((nic, i) => ({ model: config.nics[i]!.model, mac: formatMac(nic.mac), driverReady: nic.driverReady, rxOffloads: wireOffloads(nic.rxOffloads) })),
  });
}

async function start(config: VmBootConfig): Promise<void> {
  const started = performance.now();
  post({ type: 'phase', phase: 'loading' });
  const [{ V86Machine }, { nicFactory }] = await Promise.all([import('../../emulator/v86/adapter.ts'), import('../../emulator/devices/index.ts')]);
  const factories = await Promise.all(config.nics.map((n) => nicFactory(n.model)));
  let snapshot: DecodedSnapshot | undefined;
  if (config.snapshotUrl) {
    try {
      snapshot = await decodeSnapshot(await fetchBytes(config.snapshotUrl));
    } catch (error) {
      // A template replaced or pruned since the page listed it: a cold boot still gives the same VM.
      post({ type: 'phase', phase: 'booting', detail: `template snapshot unusable (${(error as Error).message}): booting cold` });
    }
  }
  const wanted = config.nics.map((n) => n.model).join('+');
  const snapshotNics = snapshot?.header.nics.map((n) => n.model).join('+');
  if (snapshot && snapshotNics !== wanted) throw new Error(`the snapshot has NICs ${snapshotNics}, the VM wants ${wanted}`);
  const [bios, vgaBios, kernel, initrd] = await Promise.all([
    fetchBytes(config.image.bios),
    fetchBytes(config.image.vgaBios),
    snapshot ? undefined : fetchBytes(config.image.kernel),
    snapshot ? undefined : fetchBytes(config.image.initrd),
  ]);
  if (stopping) return;

  post({ type: 'phase', phase: snapshot ? 'restoring' : 'booting' });
  const created = await V86Machine.create({
    memoryBytes: (snapshot?.header.memoryMiB ?? config.memoryMiB) * 1024 * 1024,
    images: { bios, vgaBios, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}) },
    cmdline: bootCommandLine(config),
    onDeviceError: (device, error) => post({ type: 'error', message: `${device}: ${(error as Error).message}` }),
    setup(platform) {
      // The VM's own MACs; a restored guest learns them from vmswitch-config below.
      // Each NIC in its own fault domain: a model that throws fails that NIC alone ('failed' driver event), not the worker.
      nics = config.nics.map((n, i) => createContainedNic(factories[i]!, platform, { mac: parseMac(n.mac) }, `${config.name}/eth${i} (${n.model})`));
      nics.forEach((nic, index) => {
        nic.setTransmitSink(transmitSink(index));
        nic.onDriverEvent((event) => post({ type: 'driver', nic: index, event: wireEvent(event) }));
      });
      // Cold boot: the page creates the ports before the BIOS even runs.
      if (!snapshot) announceNics(config);
    },
    ...(snapshot
      ? { restore: { state: snapshot.v86State, afterRestore: () => nics.forEach((nic, i) => nic.restoreState(snapshot.header.nics[i]!.state)) } }
      : {}),
  });
  machine = created;
  if (stopping) return created.destroy();
  created.onSerialOutput(onConsole);
  counterTimer = setInterval(() => nics.forEach((nic, i) => post({ type: 'counters', nic: i, counters: nic.counters })), 1000);

  const watcher = new PromptWatcher();
  if (snapshot) {
    // Same identity as a cold boot gives (hostname, addresses, hosts, MACs) before the VM joins the switch.
    post({ type: 'phase', phase: 'personalising' });
    const command = personaliseCommand(config);
    await new Promise<void>((resolve) => {
      consoleGate = (text) => {
        if (!watcher.feedMarker(text, command.marker)) return false;
        consoleGate = null;
        // The prompt after the marker is the user's first prompt.
        if (watcher.afterMarker) post({ type: 'console', text: watcher.afterMarker });
        resolve();
        return false;
      };
      created.sendSerial(encoder.encode(command.line + '\n'));
    });
    if (watcher.markerStatus !== 0) throw new Error(`vmswitch-config failed in the restored guest (exit ${watcher.markerStatus})`);
    announceNics(config);
  } else {
    const bootDecoder = new TextDecoder();
    await new Promise<void>((resolve) => {
      const off = created.onSerialOutput((bytes) => {
        if (watcher.feedBoot(bootDecoder.decode(bytes, { stream: true }))) {
          off();
          resolve();
        }
      });
    });
  }
  post({ type: 'phase', phase: 'ready', elapsedMs: performance.now() - started });
}

async function stop(): Promise<void> {
  stopping = true;
  if (counterTimer) clearInterval(counterTimer);
  for (const nic of nics) {
    nic.setTransmitSink(null);
    nic.destroy();
  }
  nics = [];
  await machine?.destroy();
  machine = null;
  post({ type: 'phase', phase: 'stopped' });
  scope.close();
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'start':
      start(message.config).catch((error: Error) => {
        post({ type: 'phase', phase: 'failed', detail: error.message });
      });
      break;
    case 'input':
      machine?.sendSerial(encoder.encode(message.text));
      break;
    case 'frames':
      nics[message.nic]?.receive(message.frames.map(fromWire));
      break;
    case 'link':
      nics[message.nic]?.setLinkUp(message.up);
      break;
    case 'stop':
      stop().catch((error: Error) => post({ type: 'error', message: `stopping: ${error.message}` }));
      break;
  }
}

// Device calls are guarded per NIC already; anything else that throws here is told to the page, not left to the worker's error event.
scope.onmessage = (event: MessageEvent) => {
  const message = event.data as ToWorker;
  try {
    handle(message);
  } catch (error) {
    post({ type: 'error', message: `handling '${String(message?.type)}': ${(error as Error)?.message ?? String(error)}` });
  }
};
