// QEMU TCG as a same-run anchor (issue 13): the work of our boot, NIC and
// idle figures, done by `qemu-system-i386` with the same guest kernel,
// initramfs and kernel command line (so /init gives the guests the same
// hostnames, addresses and a busybox shell on ttyS0). Figures are named
// `qemu.*`; the groups measuring ours compare with them when both ran in one
// invocation. Without qemu-system-i386 it says how to install it and
// reports nothing (CI does not need it).
//
// Machine: `-machine pc -accel tcg -m 128`, one vCPU, `-cpu qemu32`: an i686
// with CMOV/MMX/SSE/SSE2/SSE3 like v86's CPU, which the Debian 686 kernel
// boots (`pentium3` lacks SSE2, so libc would take other code paths than in
// v86; qemu32 also offers PAE, which the non-PAE kernel ignores). No option
// ROMs (v86 has none), no display, the serial port on QEMU's stdio, driven by
// our own ShellSession (emulator/exec.ts) over a SerialConsole.
//
// Pairs: two guests joined by a TCP socket netdev on 127.0.0.1 (stream
// sockets give backpressure; a UDP netdev would drop under iperf3). With a
// socket backend QEMU's virtio-net offers no checksum/TSO offloads (no vnet
// header), so its virtio pair moves plain 1500-byte frames. Measured with
// bench/v86-baseline.ts's helpers, as our pairs are: a warm-up iperf3, then
// RUNS blocks of iperf3 TCP (receiver MiB/s) and ping RTT (median of the
// per-reply times), medians over the blocks.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchEntry } from './types.ts';
import { SerialConsole } from '../emulator/console.ts';
import { ShellSession, type ExecOptions, type ExecResult } from '../emulator/exec.ts';
import { identitySettings, KERNEL_ARGS } from '../emulator/vm.ts';
import { ensureImage, READY_LINE, type GuestImage } from '../guest-images/index.ts';
import { RUNS, WARMUP_SECONDS, median, rttMs, sh, tcpMibps } from './v86-baseline.ts';

const QEMU = process.env.VMSWITCH_QEMU ?? 'qemu-system-i386';
const IDLE_SECONDS = Number(process.env.VMSWITCH_BENCH_IDLE_SECONDS ?? 10);
/** After the shell first answers, before idle CPU is sampled: the guest's last boot work (udev-less, but timers, ARP, IPv6 DAD) settles. */
const IDLE_SETTLE_MS = 3000;
const BOOT_TIMEOUT_MS = 180_000;

export type QemuNicModel = 'e1000' | 'virtio';
/** The QEMU device of each of our NIC models. */
const QEMU_DEVICE: Record<QemuNicModel, string> = { e1000: 'e1000', virtio: 'virtio-net-pci' };

export interface QemuNic {
  model: QemuNicModel;
  mac: string;
  /** The side that listens starts first; the other connects to it. */
  socket: { listen: number } | { connect: number };
}

export interface QemuGuestSpec {
  image: Pick<GuestImage, 'kernel' | 'initrd'>;
  hostname: string;
  ip?: string[];
  nic?: QemuNic;
}

/** The kernel command line our VMs boot with (emulator/vm.ts), with this guest's identity. */
export function guestCmdline(spec: Pick<QemuGuestSpec, 'hostname' | 'ip'>): string {
  const words = identitySettings({ hostname: spec.hostname, ...(spec.ip ? { ip: spec.ip } : {}) });
  return [KERNEL_ARGS, ...words.map((word) => `vmswitch.${word}`)].join(' ');
}

/** qemu-system-i386's arguments for one guest. */
export function qemuArgs(spec: QemuGuestSpec): string[] {
  const args = [
    '-machine', 'pc', '-accel', 'tcg', '-cpu', 'qemu32', '-smp', '1', '-m', '128',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    // signal=off: Ctrl-C typed by the shell driver goes to the guest, not to QEMU.
    '-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console',
    '-kernel', spec.image.kernel, '-initrd', spec.image.initrd, '-append', guestCmdline(spec),
  ];
  if (spec.nic) {
    const { model, mac, socket } = spec.nic;
    const endpoint = 'listen' in socket ? `listen=127.0.0.1:${socket.listen}` : `connect=127.0.0.1:${socket.connect}`;
    args.push('-netdev', `socket,id=net0,${endpoint}`, '-device', `${QEMU_DEVICE[model]},netdev=net0,mac=${mac},romfile=`);
  }
  return args;
}

/** utime + stime (clock ticks, all threads) from the text of /proc/PID/stat. */
export function cpuTicks(statText: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = statText.slice(statText.lastIndexOf(')') + 2).trim().split(/\s+/);
  // Field 3 (state) is fields[0]; utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/PID/stat: ${JSON.stringify(statText.slice(0, 200))}`);
  return utime + stime;
}

/** CPU used over a wall interval, % of one core. */
export function cpuPercent(ticks: number, ticksPerSecond: number, seconds: number): number {
  return (ticks / ticksPerSecond / seconds) * 100;
}

/** Whether /proc/net/tcp's text has a socket listening on 127.0.0.1:port. */
export function listensOn(procNetTcp: string, port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
  return procNetTcp.split('\n').some((line) => {
    const cols = line.trim().split(/\s+/);
    return cols[1] === local && cols[3] === '0A';
  });
}

/** For the log: a figure taken while other work ran says so. */
function loadavg(): string {
  try {
    return `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
  } catch {
    return 'loadavg unknown';
  }
}

function ticksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // USER_HZ, fixed at 100 on x86 Linux
  }
}

/** Every QEMU this process started and has not reaped: killed when the process ends, however it ends. */
const live = new Set<ChildProcess>();
let exitHooked = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal); // the default action, now that this listener is gone
    });
  }
}

export class QemuExitedError extends Error {
  override name = 'QemuExitedError';
}

/** One QEMU guest, its serial console driven by our shell session. */
export class QemuGuest {
  private readonly shell: ShellSession;
  readonly console: SerialConsole;
  private stderr = '';
  private readonly exited: Promise<void>;
  private exitReason: string | undefined;

  private constructor(readonly name: string, private readonly child: ChildProcess) {
    const listeners = new Set<(bytes: Uint8Array) => void>();
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const listener of listeners) listener(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2000)));
    // A QEMU gone before stdin is written to must not end this process with EPIPE.
    child.stdin!.on('error', () => {});
    this.console = new SerialConsole({
      onSerialOutput: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      sendSerial: (bytes) => {
        if (child.exitCode === null && child.signalCode === null) child.stdin!.write(bytes);
      },
    });
    this.shell = new ShellSession(this.console);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitReason = `QEMU exited (${signal ?? `code ${code}`}): ${this.stderr.trim() || 'no message'}`;
        this.shell.close();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Spawns QEMU and returns at once; `ready()` waits for the shell. */
  static spawn(name: string, spec: QemuGuestSpec): QemuGuest {
    hookExit();
    const child = spawn(QEMU, qemuArgs(spec), { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    child.on('error', () => {}); // reported through 'exit' / ready()
    return new QemuGuest(name, child);
  }

  /** Resolves once /init printed the ready line and the shell answers (as VirtualMachine's cold boot does). */
  async ready(timeoutMs = BOOT_TIMEOUT_MS): Promise<void> {
    let seen = '';
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`${this.name}: no '${READY_LINE}' within ${timeoutMs} ms; console: ${JSON.stringify(this.console.recent(600))}`)), timeoutMs);
          off = this.console.onData((bytes) => {
            seen = (seen + Buffer.from(bytes).toString('latin1')).slice(-200);
            if (seen.includes(READY_LINE)) resolve();
          });
        }),
        this.exited.then(() => {
          throw new QemuExitedError(`${this.name}: ${this.exitReason}`);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      off?.();
    }
    if (!(await this.shell.sync(20_000))) throw new Error(`${this.name}: the shell does not answer; console: ${JSON.stringify(this.console.recent(300))}`);
  }

  exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    if (this.exitReason) return Promise.reject(new QemuExitedError(`${this.name}: ${this.exitReason}`));
    return this.shell.exec(command, opts);
  }

  /** utime + stime of the QEMU process so far, clock ticks. */
  cpuTicks(): number {
    return cpuTicks(readFileSync(`/proc/${this.pid}/stat`, 'utf8'));
  }

  async stop(): Promise<void> {
    this.shell.close();
    this.console.close();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The version line, or undefined when qemu-system-i386 cannot be run. */
export function qemuVersion(binary = QEMU): string | undefined {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.split('\n')[0]?.trim();
}

/** A TCP port free on 127.0.0.1 just now (the kernel's choice). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port from the kernel');
  return address.port;
}

/** Polls /proc/net/tcp (a test connection would itself become the netdev's peer). */
async function waitForListener(port: number, guest: QemuGuest, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (listensOn(readFileSync('/proc/net/tcp', 'utf8'), port)) return;
    await sleep(20);
  }
  throw new Error(`${guest.name}: QEMU does not listen on 127.0.0.1:${port} after ${timeoutMs} ms; console: ${JSON.stringify(guest.console.recent(300))}`);
}

async function stopAll(guests: readonly QemuGuest[]): Promise<void> {
  await Promise.all(guests.map((guest) => guest.stop()));
}

/** Cold boots to a responsive shell, one at a time; the last guest is kept, idle, for the CPU figure. */
async function bootAndIdle(image: GuestImage): Promise<BenchEntry[]> {
  const times: number[] = [];
  let idlePct = NaN;
  for (let i = 0; i < RUNS; i++) {
    const began = performance.now();
    const guest = QemuGuest.spawn(`qboot${i}`, { image, hostname: `qboot${i}` });
    try {
      await guest.ready();
      const ms = performance.now() - began;
      const check = await guest.exec('echo ok');
      if (check.output !== 'ok\n') throw new Error(`${guest.name} answered ${JSON.stringify(check.output)}`);
      times.push(ms);
      console.log(`qemu cold boot ${i + 1}/${RUNS}: ${ms.toFixed(0)} ms; ${loadavg()}`);
      if (i === RUNS - 1) {
        // Nothing is typed into the console while sampling: the shell sits at its prompt.
        await sleep(IDLE_SETTLE_MS);
        const before = guest.cpuTicks();
        const start = performance.now();
        await sleep(IDLE_SECONDS * 1000);
        const ticks = guest.cpuTicks() - before;
        idlePct = cpuPercent(ticks, ticksPerSecond(), (performance.now() - start) / 1000);
        console.log(`qemu idle guest: ${idlePct.toFixed(2)}% of a core over ${IDLE_SECONDS} s; ${loadavg()}`);
      }
    } finally {
      await guest.stop();
    }
  }
  return [
    { name: 'qemu.boot.cold.ms', value: Math.round(median(times)), unit: 'ms' },
    { name: 'qemu.idle.cpu.pct', value: Math.round(idlePct * 100) / 100, unit: '% of a core' },
  ];
}

/** A pair of one NIC model on a loopback socket netdev: warmed up, then RUNS blocks of TCP and RTT. */
async function pair(image: GuestImage, model: QemuNicModel, subnet: string, macPrefix: string): Promise<BenchEntry[]> {
  const port = await freePort();
  const guests: QemuGuest[] = [];
  try {
    const a = QemuGuest.spawn(`q${model}a`, { image, hostname: `q${model}a`, ip: [`${subnet}.1/24`], nic: { model, mac: `${macPrefix}:01`, socket: { listen: port } } });
    guests.push(a);
    await waitForListener(port, a);
    const b = QemuGuest.spawn(`q${model}b`, { image, hostname: `q${model}b`, ip: [`${subnet}.2/24`], nic: { model, mac: `${macPrefix}:02`, socket: { connect: port } } });
    guests.push(b);
    await Promise.all([a.ready(), b.ready()]);
    const target = `${subnet}.2`;
    await sh(b, 'iperf3 -s -D');
    await sh(a, `ping -c 2 -W 5 ${target}`);
    if (WARMUP_SECONDS > 0) await sh(a, `iperf3 -c ${target} -t ${WARMUP_SECONDS} >/dev/null`, (WARMUP_SECONDS + 60) * 1000);
    const tcp: number[] = [];
    const rtt: number[] = [];
    const hz = ticksPerSecond();
    for (let i = 0; i < RUNS; i++) {
      // The two QEMUs' CPU during the TCP block: near 200% means each had a core; less, that the machine was shared.
      const before = a.cpuTicks() + b.cpuTicks();
      const start = performance.now();
      tcp.push(await tcpMibps({ a, target }));
      const cpu = cpuPercent(a.cpuTicks() + b.cpuTicks() - before, hz, (performance.now() - start) / 1000);
      rtt.push(await rttMs({ a, target }));
      console.log(`qemu ${model} pair ${i + 1}/${RUNS}: ${tcp.at(-1)!.toFixed(2)} MiB/s (both QEMUs ${cpu.toFixed(0)}% of a core), rtt ${rtt.at(-1)!.toFixed(2)} ms; ${loadavg()}`);
    }
    const name = `${model}-${model}`;
    return [
      { name: `qemu.${name}.tcp.mibps`, value: median(tcp), unit: 'MiB/s' },
      { name: `qemu.${name}.rtt.ms`, value: median(rtt), unit: 'ms' },
    ];
  } finally {
    await stopAll(guests);
  }
}

export async function run(): Promise<BenchEntry[]> {
  const version = qemuVersion();
  if (!version) {
    console.log(`qemu: ${QEMU} not found, skipping (install it with: apt-get install qemu-system-x86)`);
    return [];
  }
  console.log(`qemu: ${version}`);
  const image = await ensureImage({ log: (line) => console.log(line) });
  return [
    ...(await bootAndIdle(image)),
    ...(await pair(image, 'e1000', '10.87.1', '02:51:00:00:01')),
    ...(await pair(image, 'virtio', '10.87.2', '02:51:00:00:02')),
  ];
}
