// The VM of a browser VM thread (a Web Worker), as serve-vm.ts serves it: v86
// through the project's adapter, our NIC models (each in its own fault
// domain), the guest image and a template snapshot fetched over HTTP. Node's
// VM thread serves the runtime's VirtualMachine instead; the protocol, the
// switch side (vm-thread.ts) and the Lab are the same in both hosts.
//
// Browser-specific pieces: no filesystem (URLs instead of the image cache and
// template files), and console output from before 'started' (a cold boot's
// kernel messages) kept and replayed to the first console listener, since
// serveVm subscribes only once the VM is up.
import type { GuestNic } from '../net/nic.ts';
import { parseMac } from '../net/frame.ts';
import { createContainedNic } from '../net/contain.ts';
import { GuestEndWatch } from '../guest-end.ts';
import { ShellSession } from '../exec.ts';
import { decodeSnapshot, type DecodedSnapshot } from '../snapshot.ts';
import type { V86Machine } from '../v86/adapter.ts';
import { bootCommandLine, personaliseCommand, PromptWatcher } from './browser-guest-setup.ts';
import type { BrowserVmOptions } from './browser-options.ts';
import type { ServedVm } from './serve-vm.ts';

/** Console output kept for the first listener: a cold boot's kernel log is a few tens of KiB. */
const EARLY_CONSOLE_LIMIT = 256 * 1024;

export class BrowserVmError extends Error {
  override name = 'BrowserVmError';
}

/** Image parts and snapshots over HTTP, with an error that names the URL. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new BrowserVmError(`cannot fetch ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new BrowserVmError(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The one place a browser VM decodes a template snapshot. */
async function fetchSnapshot(url: string): Promise<DecodedSnapshot> {
  return decodeSnapshot(await fetchBytes(url));
}

/** The console as listeners get it: live bytes, and what came before the first listener, replayed to it. */
export class EarlyConsole {
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private early: Uint8Array[] | null = [];
  private earlyBytes = 0;

  constructor(readonly write: (input: string | Uint8Array) => void) {}

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    const early = this.early;
    this.early = null;
    for (const bytes of early ?? []) listener(bytes);
    return () => this.listeners.delete(listener);
  }

  deliver(bytes: Uint8Array): void {
    if (this.early) {
      if (this.earlyBytes + bytes.length <= EARLY_CONSOLE_LIMIT) this.early.push(bytes.slice());
      this.earlyBytes += bytes.length;
    }
    for (const listener of this.listeners) listener(bytes);
  }
}

/** Starts the VM in this worker: resolves once a restored guest is personalised, or as soon as a cold boot begins. */
export async function startBrowserVm(options: BrowserVmOptions, wasm: WebAssembly.Module | undefined, log: (line: string) => void): Promise<ServedVm> {
  const started = performance.now();
  const [{ V86Machine }, { nicFactory }] = await Promise.all([import('../v86/adapter.ts'), import('../devices/index.ts')]);
  const models = options.nics.map((nic) => nic.model);
  const factories = await Promise.all(models.map((model) => nicFactory(model)));
  const identity = {
    name: options.hostname ?? options.name,
    ip: options.ip ?? [],
    hosts: options.hosts ?? {},
    nics: options.nics.map((nic, i) => {
      if (!nic.mac) throw new BrowserVmError(`${options.name}: eth${i} has no MAC (the launch gives every NIC one)`);
      return { mac: nic.mac };
    }),
  };
  let snapshot: DecodedSnapshot | undefined;
  if (options.snapshotUrl) {
    log('fetching the template snapshot');
    try {
      snapshot = await fetchSnapshot(options.snapshotUrl);
    } catch (error) {
      // A template replaced or pruned since the page listed it: a cold boot still gives the same VM.
      log(`template snapshot unusable (${(error as Error).message}): booting cold`);
    }
  }
  const snapshotNics = snapshot?.header.nics.map((n) => n.model).join('+');
  if (snapshot && snapshotNics !== models.join('+')) throw new BrowserVmError(`the snapshot has NICs ${snapshotNics}, the VM wants ${models.join('+')}`);
  log(snapshot ? 'fetching the BIOS' : 'fetching the image');
  const image = options.image;
  const [bios, vgaBios, kernel, initrd] = await Promise.all([
    fetchBytes(image.bios),
    fetchBytes(image.vgaBios),
    snapshot ? undefined : fetchBytes(image.kernel),
    snapshot ? undefined : fetchBytes(image.initrd),
  ]);

  log(snapshot ? 'restoring' : 'booting');
  let nics: GuestNic[] = [];
  const memoryMiB = snapshot?.header.memoryMiB ?? options.memoryMiB ?? 128;
  const machine: V86Machine = await V86Machine.create({
    memoryBytes: memoryMiB * 1024 * 1024,
    images: { bios, vgaBios, ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}) },
    cmdline: bootCommandLine(identity),
    onDeviceError: (device, error) => log(`${device}: ${(error as Error).message}`),
    ...(wasm ? { wasmModule: wasm } : {}),
    setup(platform) {
      // Each NIC in its own fault domain: a model that throws fails that NIC alone ('failed' driver event), not the thread.
      nics = models.map((model, i) => createContainedNic(factories[i]!, platform, { mac: parseMac(identity.nics[i]!.mac) }, `${options.name}/eth${i} (${model})`));
    },
    ...(snapshot ? { restore: { state: snapshot.v86State, afterRestore: () => nics.forEach((nic, i) => nic.restoreState(snapshot.header.nics[i]!.state)) } } : {}),
  });

  const encoder = new TextEncoder();
  const write = (input: string | Uint8Array): void => machine.sendSerial(typeof input === 'string' ? encoder.encode(input) : input);
  const guestConsole = new EarlyConsole(write);
  const rawConsole = { onData: (listener: (bytes: Uint8Array) => void) => machine.onSerialOutput(listener), write };
  let endVm!: (end: { reason: 'stopped' | 'poweroff' | 'reboot' }) => void;
  const ended = new Promise<{ reason: 'stopped' | 'poweroff' | 'reboot' }>((resolve) => (endVm = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (reason: 'stopped' | 'poweroff' = 'stopped'): Promise<void> => {
    stopping ??= (async () => {
      for (const nic of nics) {
        nic.setTransmitSink(null);
        nic.destroy();
      }
      await machine.destroy();
      endVm({ reason });
    })();
    return stopping;
  };

  // The user's console starts after personalisation (a restored guest) or at once (a cold boot shows its kernel log).
  let showConsole = !snapshot;
  const guestEnd = new GuestEndWatch();
  machine.onSerialOutput((bytes) => {
    if (!showConsole) return;
    guestConsole.deliver(bytes);
    // Only a poweroff or halt ends a browser VM (a reboot runs on, as the page always did).
    if (guestEnd.feed(bytes) === 'poweroff') void stop('poweroff');
  });

  const watcher = new PromptWatcher();
  if (snapshot) {
    // Same identity as a cold boot gives (hostname, addresses, hosts, MACs) before the VM joins the switch.
    log('personalising');
    const command = personaliseCommand(identity);
    const decoder = new TextDecoder();
    await new Promise<void>((resolve) => {
      const off = machine.onSerialOutput((bytes) => {
        if (!watcher.feedMarker(decoder.decode(bytes, { stream: true }), command.marker)) return;
        off();
        showConsole = true;
        // The prompt after the marker is the user's first prompt.
        if (watcher.afterMarker) guestConsole.deliver(encoder.encode(watcher.afterMarker));
        resolve();
      });
      write(command.line + '\n');
    });
    if (watcher.markerStatus !== 0) {
      await stop();
      throw new BrowserVmError(`vmswitch-config failed in the restored guest (exit ${watcher.markerStatus})`);
    }
  }
  // A cold boot is served at once, so that its NICs join the switch while the guest boots (PORT_CREATE,
  // NIC_CREATE before the BIOS runs; NIC_CONNECT when the guest's driver binds), as on a real host.
  // exec waits for the shell.
  const booted = snapshot
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        const decoder = new TextDecoder();
        const off = machine.onSerialOutput((bytes) => {
          if (!watcher.feedBoot(decoder.decode(bytes, { stream: true }))) return;
          off();
          log(`the shell is ready (${((performance.now() - started) / 1000).toFixed(1)} s)`);
          resolve();
        });
      });
  const shell = new ShellSession(rawConsole);
  return {
    nics,
    memoryMiB,
    startInfo: { kind: snapshot ? 'snapshot' : 'cold', ms: performance.now() - started },
    console: guestConsole,
    ended,
    exec: async (command, opts) => {
      await booted;
      return shell.exec(command, opts);
    },
    saveSnapshot: () => Promise.reject(new BrowserVmError('saving a snapshot is not supported in the browser')),
    stop: () => stop(),
  };
}
