// VXLAN over real UDP sockets (node:dgram): Node only. The protocol logic is
// vxlan.ts; this file binds, sends and receives.
//
// Sockets: one bound to the local address and VXLAN port (what peers send
// to), and a small pool bound to ports in 49152-65535 that datagrams are
// sent from, picked by the hash of the inner flow (vxlan.ts flowSourcePort),
// so one flow always leaves from one source port and flows spread over
// several, as RFC 7348 asks for ECMP. A socket cannot choose its source port
// per datagram, hence the pool rather than the hash itself. Every socket's
// input goes through the same checks (allowlist first).
import dgram from 'node:dgram';
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { bump } from '../counters.ts';
import { UPLINK_DROP_REASONS } from '../drop-reasons.ts';
import { UplinkStateListeners, type Uplink } from './uplink.ts';
import { SOURCE_PORT_COUNT, SOURCE_PORT_MIN, VxlanEndpoint, formatEndpoint, type UdpEndpoint, type VxlanConfig } from './vxlan.ts';

export interface VxlanSocketOptions extends VxlanConfig {
  /** Source-port sockets (default 4; 0 sends from the listening socket, port = the VXLAN port). */
  sourcePorts?: number;
  clock?: () => number;
}

/** The uplink could not open its sockets (address not local, port in use, ...). */
export class VxlanSocketError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VxlanSocketError';
  }
}

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const SOURCE_PORT_TRIES = 64;

export class VxlanSocketUplink implements Uplink {
  readonly endpoint: VxlanEndpoint;
  readonly description: string;
  readonly local: UdpEndpoint;
  private listening: dgram.Socket | undefined;
  private senders: dgram.Socket[] = [];
  private receiver: FrameSink | null = null;
  private up = false;
  private readonly stateListeners = new UplinkStateListeners();

  private constructor(private readonly options: VxlanSocketOptions) {
    this.local = options.local;
    this.endpoint = new VxlanEndpoint(options, (peer, header, frame, sourcePort) => this.transmit(peer, header, frame, sourcePort), options.clock);
    this.description = `vxlan ${options.vni} ${formatEndpoint(options.local)}`;
  }

  /** Binds the sockets; rejects with a VxlanSocketError saying why not. */
  static async open(options: VxlanSocketOptions): Promise<VxlanSocketUplink> {
    const uplink = new VxlanSocketUplink(options);
    try {
      uplink.listening = await bindSocket(options.local, options.local.port);
      uplink.listen(uplink.listening);
      const count = options.sourcePorts ?? 4;
      let next = SOURCE_PORT_MIN + (hashString(`${formatEndpoint(options.local)}/${options.vni}`) % SOURCE_PORT_COUNT);
      for (let i = 0; i < count; i++) {
        let socket: dgram.Socket | undefined;
        for (let attempt = 0; !socket && attempt < SOURCE_PORT_TRIES; attempt++) {
          const port = next;
          next = next === 65535 ? SOURCE_PORT_MIN : next + 1;
          socket = await bindSocket(options.local, port).catch((error: VxlanSocketError) => {
            if ((error.cause as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') throw error;
            return undefined;
          });
        }
        if (!socket) throw new VxlanSocketError(`vxlan: no free source port near ${next} on ${options.local.address}`);
        uplink.listen(socket);
        uplink.senders.push(socket);
      }
    } catch (error) {
      await uplink.close();
      throw error;
    }
    uplink.setUp(true);
    return uplink;
  }

  get mtu(): number {
    return this.endpoint.mtu;
  }

  get isUp(): boolean {
    return this.up;
  }

  /** The ports datagrams are sent from (for tests and `describe`). */
  get sourcePorts(): number[] {
    return this.senders.map((socket) => socket.address().port);
  }

  send(frames: readonly Frame[]): void {
    if (!this.up) {
      bump(this.endpoint.drops, UPLINK_DROP_REASONS.notConnected, frames.length);
      return;
    }
    this.endpoint.send(frames);
  }

  setReceiver(sink: FrameSink | null): void {
    this.receiver = sink;
  }

  onStateChange(listener: (up: boolean) => void): () => void {
    return this.stateListeners.add(listener);
  }

  drops(): Record<string, number> {
    return { ...this.endpoint.drops } as Record<string, number>;
  }

  async close(): Promise<void> {
    const sockets = [...(this.listening ? [this.listening] : []), ...this.senders];
    this.listening = undefined;
    this.senders = [];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    this.setUp(false);
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.stateListeners.emit(up);
  }

  private transmit(peer: UdpEndpoint, header: Uint8Array, frame: Uint8Array, sourcePort: number): boolean {
    const socket = this.senders.length ? this.senders[sourcePort % this.senders.length]! : this.listening;
    if (!socket) return false;
    try {
      socket.send([header, frame], peer.port, peer.address);
      return true;
    } catch {
      return false;
    }
  }

  private listen(socket: dgram.Socket): void {
    socket.on('message', (message, from) => {
      const frame = this.endpoint.receive(new Uint8Array(message.buffer, message.byteOffset, message.length), from.address, from.port);
      if (!frame) return;
      const receiver = this.receiver;
      if (!receiver) {
        bump(this.endpoint.drops, UPLINK_DROP_REASONS.notConnected);
        return;
      }
      receiver.deliver([frame]);
    });
    // Errors after bind are send failures (e.g. ICMP unreachable reported on the socket): counted, the socket stays.
    socket.on('error', () => bump(this.endpoint.drops, UPLINK_DROP_REASONS.sendFailed));
    // A socket that closes by itself takes the uplink down (the external port runs its stop order).
    socket.on('close', () => this.setUp(false));
  }
}

function bindSocket(local: UdpEndpoint, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket(local.family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new VxlanSocketError(`vxlan: cannot bind ${formatEndpoint({ ...local, port })}: ${error.code ?? error.message}`, { cause: error }));
    };
    socket.once('error', onError);
    socket.bind(port, local.address, () => {
      socket.off('error', onError);
      try {
        socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
        socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
      } catch {
        // Capped by the system (net.core.rmem_max): the default buffers work, only with more loss under bursts.
      }
      resolve(socket);
    });
  });
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
