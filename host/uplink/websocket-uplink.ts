// The page's side of the shared switch: an Uplink (uplink.ts) over a
// WebSocket to `vmswitch web --shared` (protocol: websocket-protocol.ts).
// Browser-safe: it takes anything shaped like the browser's WebSocket, so
// unit tests give it a fake. Up once the server's hello has come (the page's
// MACs and addresses are in it), down for good when the socket closes: the
// external port (external-port.ts) then runs its stop order.
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { ETH_HEADER_LENGTH } from '../../emulator/net/frame.ts';
import { bump } from '../counters.ts';
import { SHARED_SWITCH_DROP_REASONS, UPLINK_DROP_REASONS } from '../drop-reasons.ts';
import { UplinkStateListeners, type Uplink } from './uplink.ts';
import { SHARED_LINK_HEADERS, SHARED_SWITCH_MTU, parseHello, type SharedHello } from './websocket-protocol.ts';

/** What of the browser's WebSocket this uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly url?: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** The shared switch could not be joined (refused, closed before its hello, a bad hello). */
export class SharedSwitchJoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharedSwitchJoinError';
  }
}

export interface WebSocketUplinkOptions {
  /** Bytes queued in the socket above which frames are dropped rather than buffered (default 4 MiB). */
  maxBufferedBytes?: number;
}

const OPEN = 1;

export class WebSocketUplink implements Uplink {
  readonly description: string;
  /** Resolves with the server's hello; rejects with a SharedSwitchJoinError if the socket closes first or the hello is bad. */
  readonly hello: Promise<SharedHello>;
  private helloValue: SharedHello | undefined;
  private up = false;
  private closed = false;
  private receiver: FrameSink | null = null;
  private readonly stateListeners = new UplinkStateListeners();
  private readonly dropCounts: Record<string, number> = {};
  private readonly maxBufferedBytes: number;
  /** Frames received and sent (for the page's panel and tests). */
  readonly counters = { rxFrames: 0, txFrames: 0 };

  constructor(
    private readonly socket: WebSocketLike,
    options: WebSocketUplinkOptions = {},
  ) {
    this.description = `shared switch ${socket.url ?? ''}`.trimEnd();
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 << 20;
    socket.binaryType = 'arraybuffer';
    let settle!: { resolve: (hello: SharedHello) => void; reject: (error: Error) => void };
    this.hello = new Promise((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be waiting (a test that only sends): an unheard rejection must not end the process.
    this.hello.catch(() => undefined);
    socket.onmessage = (event) => {
      if (this.helloValue) return this.onFrame(event.data);
      if (typeof event.data !== 'string') {
        bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.badHello);
        return;
      }
      const hello = parseHello(event.data);
      if (typeof hello === 'string') {
        bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.badHello);
        settle.reject(new SharedSwitchJoinError(`shared switch: ${hello}`));
        socket.close(1002, 'bad hello');
        return;
      }
      this.helloValue = hello;
      settle.resolve(hello);
      this.setUp(true);
    };
    socket.onclose = (event) => {
      this.closed = true;
      settle.reject(new SharedSwitchJoinError(`shared switch: the connection closed before the hello (${event?.code ?? '?'}${event?.reason ? ` ${event.reason}` : ''})`));
      this.setUp(false);
    };
    // An error is followed by close; nothing to do here but not to throw.
    socket.onerror = () => undefined;
  }

  get mtu(): number {
    return this.helloValue?.mtu ?? SHARED_SWITCH_MTU;
  }

  get isUp(): boolean {
    return this.up;
  }

  send(frames: readonly Frame[]): void {
    if (!this.up || this.socket.readyState !== OPEN) {
      bump(this.dropCounts, UPLINK_DROP_REASONS.notConnected, frames.length);
      return;
    }
    for (const frame of frames) {
      // The browser buffers without limit: a stalled server must not take the page's memory.
      if (this.socket.bufferedAmount > this.maxBufferedBytes) {
        bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.sendBacklog);
        continue;
      }
      try {
        this.socket.send(frame.data);
        this.counters.txFrames++;
      } catch {
        bump(this.dropCounts, UPLINK_DROP_REASONS.sendFailed);
      }
    }
  }

  setReceiver(sink: FrameSink | null): void {
    this.receiver = sink;
  }

  onStateChange(listener: (up: boolean) => void): () => void {
    return this.stateListeners.add(listener);
  }

  drops(): Record<string, number> {
    return { ...this.dropCounts };
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      try {
        this.socket.close(1000, 'page closed');
      } catch {
        // Already closing.
      }
    }
    this.setUp(false);
  }

  private onFrame(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.textMessage);
      return;
    }
    const length = data.byteLength;
    if (length === 0) return bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.emptyMessage);
    if (length < ETH_HEADER_LENGTH) return bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.truncated);
    if (length > this.mtu + SHARED_LINK_HEADERS) return bump(this.dropCounts, SHARED_SWITCH_DROP_REASONS.oversize);
    const receiver = this.receiver;
    if (!receiver) return bump(this.dropCounts, UPLINK_DROP_REASONS.notConnected);
    this.counters.rxFrames++;
    receiver.deliver([{ data: new Uint8Array(data) }]);
  }

  private setUp(up: boolean): void {
    if (this.up === up || (up && this.closed)) return;
    this.up = up;
    this.stateListeners.emit(up);
  }
}
