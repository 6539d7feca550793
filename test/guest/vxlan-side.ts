// One side of a VXLAN-joined pair of labs, in its own process: a Lab with a
// VXLAN uplink and one VM, driven over IPC by the test or bench that forked
// it (VxlanSide.spawn). Run as a child (`serve` argument), it is that lab;
// imported, it is the client.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NicModel } from '../../emulator/net/nic.ts';
import type { VxlanConfig } from '../../host/uplink/vxlan.ts';

export interface SideConfig {
  vm: string;
  model: NicModel;
  /** eth0's CIDR. */
  ip: string;
  vxlan: VxlanConfig;
  labId?: string;
}

export interface SideState {
  /** OID lines as `OID:portId[:vm]`. */
  oids: string[];
  uplinkDrops: Record<string, number>;
  portDrops: Record<string, number>;
  counters: { txFrames: number; txDatagrams: number; rxDatagrams: number; rxFrames: number };
  ports: { id: number; type: string; name: string }[];
  vmState: string;
  mac: string;
  mtu: number;
}

type Request = { id: number; cmd: 'exec'; command: string; timeoutMs: number } | { id: number; cmd: 'stop' | 'start' | 'state' | 'close' };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string } | { type: 'ready' } | { type: 'failed'; error: string };

const SELF = fileURLToPath(import.meta.url);

/** The parent's handle on a side. */
export class VxlanSide {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private exited = false;

  private constructor(
    readonly config: SideConfig,
    readonly child: ChildProcess,
  ) {}

  /** Forks the side and waits until its VM runs with the uplink up. */
  static spawn(config: SideConfig): Promise<VxlanSide> {
    const child = fork(SELF, ['serve', JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const side = new VxlanSide(config, child);
    return new Promise((resolve, reject) => {
      child.on('message', (message: Reply) => {
        if ('type' in message) {
          if (message.type === 'ready') resolve(side);
          else reject(new Error(`side ${config.vm}: ${message.error}`));
          return;
        }
        const waiter = side.pending.get(message.id);
        side.pending.delete(message.id);
        if (message.ok) waiter?.resolve(message.value);
        else waiter?.reject(new Error(message.error));
      });
      child.on('exit', (code) => {
        side.exited = true;
        reject(new Error(`side ${config.vm} exited with ${code} before it was ready`));
        for (const waiter of side.pending.values()) waiter.reject(new Error(`side ${config.vm} exited with ${code}`));
        side.pending.clear();
      });
    });
  }

  private call(request: Omit<Request, 'id'>): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`side ${this.config.vm} has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...request, id });
    });
  }

  exec(command: string, timeoutMs = 60_000): Promise<{ output: string; exitCode: number }> {
    return this.call({ cmd: 'exec', command, timeoutMs } as Omit<Request, 'id'>) as Promise<{ output: string; exitCode: number }>;
  }

  async ok(command: string, timeoutMs = 60_000): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.exitCode !== 0) throw new Error(`${this.config.vm}$ ${command}: exit ${result.exitCode}\n${result.output}`);
    return result.output;
  }

  stop(): Promise<void> {
    return this.call({ cmd: 'stop' }) as Promise<void>;
  }

  start(): Promise<void> {
    return this.call({ cmd: 'start' }) as Promise<void>;
  }

  state(): Promise<SideState> {
    return this.call({ cmd: 'state' }) as Promise<SideState>;
  }

  /** Closes the lab (stop order for VM and uplink) and waits for the process to end; kills it after 60 s. */
  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await this.call({ cmd: 'close' }).catch(() => undefined);
    await exited;
    clearTimeout(timer);
  }
}

async function serve(config: SideConfig): Promise<void> {
  const { Lab } = await import('../../host/lab/index.ts');
  const { VxlanSocketUplink } = await import('../../host/uplink/vxlan-socket.ts');
  const lab = new Lab({ ...(config.labId ? { labId: config.labId } : {}) });
  const oids: string[] = [];
  lab.on('oid', (e) => oids.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}${e.vm ? `:${e.vm}` : ''}${e.status === 'success' ? '' : `:${e.status}`}`));
  const uplink = await VxlanSocketUplink.open(config.vxlan);
  await lab.attachUplink(uplink);
  await lab.start(config.vm, { nics: [{ model: config.model, ip: config.ip }] });
  const send = (message: Reply): void => void process.send!(message);
  send({ type: 'ready' });
  process.on('message', async (request: Request) => {
    try {
      let value: unknown = null;
      switch (request.cmd) {
        case 'exec':
          value = await lab.exec(config.vm, request.command, { timeoutMs: request.timeoutMs });
          break;
        case 'stop':
          await lab.stop(config.vm);
          break;
        case 'start':
          await lab.start(config.vm);
          break;
        case 'state': {
          const vm = lab.vm(config.vm)!;
          const nic = vm.portIds[0] !== undefined ? lab.switch.nic(vm.portIds[0], 0) : undefined;
          const state: SideState = {
            oids,
            uplinkDrops: uplink.drops(),
            portDrops: { ...lab.externalPort?.drops } as Record<string, number>,
            counters: { ...uplink.endpoint.counters },
            ports: lab.switch.ports().map((p) => ({ id: p.id, type: p.type, name: p.name })),
            vmState: vm.state,
            mac: vm.guest ? [...vm.guest.nics[0]!.mac].map((b) => b.toString(16).padStart(2, '0')).join(':') : '',
            mtu: nic?.mtu ?? 0,
          };
          value = state;
          break;
        }
        case 'close':
          await lab.close();
          send({ id: request.id, ok: true, value: null });
          process.disconnect();
          return;
      }
      send({ id: request.id, ok: true, value });
    } catch (error) {
      send({ id: request.id, ok: false, error: (error as Error).message });
    }
  });
}

if (process.argv[2] === 'serve' && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  serve(JSON.parse(process.argv[3]!) as SideConfig).catch((error: Error) => {
    process.send?.({ type: 'failed', error: error.message } satisfies Reply);
    process.exitCode = 1;
    process.disconnect?.();
  });
}
