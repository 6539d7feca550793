// The shared switch of `vmswitch web --shared`: a switch on the server that
// pages join over WebSocket (the transport glue is shared-switch-server.ts;
// the wire protocol host/uplink/websocket-protocol.ts). No `ws` and no Node
// import here: a page's socket is anything with send/close/bufferedAmount, so
// unit tests and the fuzz target drive it with fakes.
//
// Each page is one port on this switch:
//   join:   PORT_CREATE (generic) -> NIC_CREATE (synthetic, the page's MTU)
//           -> NIC_CONNECT, then the hello (the page's number, MACs, addresses)
//   leave:  the stop order, NIC_DISCONNECT -> drain -> NIC_DELETE ->
//           PORT_TEARDOWN -> PORT_DELETE, when its socket closes
//
// Port type, decided: `generic`, as the lab file's switch-to-switch links
// (host/lab/file/schema.ts). Behind the port is another switch, not a VM's
// vNIC (synthetic/emulated) nor the host (internal); and a switch has one
// external NIC, kept for a VXLAN uplink, so N pages cannot all be external.
// Its NIC is `synthetic`, the software-only kind (there is no emulated device
// behind it), without the switch's one-MAC port security (a page carries many
// VMs' MACs): this module enforces the page's MAC prefix itself, before the
// frame reaches the switch.
//
// A page is untrusted input: every message is checked here, and what is not
// one well-formed frame from one of the page's own MACs within its rate is
// dropped and counted (host/drop-reasons.ts SHARED_SWITCH_DROP_REASONS).
import type { Frame } from '../emulator/net/frame.ts';
import { ETH_HEADER_LENGTH, parseMac } from '../emulator/net/frame.ts';
import { bump } from '../host/counters.ts';
import { SHARED_SWITCH_DROP_REASONS, type SharedSwitchDropReason } from '../host/drop-reasons.ts';
import { MacLearningForwarder } from '../host/extensions/mac-learning.ts';
import { Switch } from '../host/switch.ts';
import { MAX_PAGE_NUMBER, SHARED_LINK_HEADERS, SHARED_SWITCH_MTU, helloFor, pageMac, pageMacPrefix, type SharedHello } from '../host/uplink/websocket-protocol.ts';

/** What of a server-side WebSocket a page needs. */
export interface PageSocket {
  /** A Uint8Array goes as a binary message, a string as a text message (the hello only). */
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  readonly bufferedAmount: number;
}

/** Who the page is (for logs and /shared.json). */
export interface PageInfo {
  origin: string;
  /** The client's address and port. */
  address: string;
}

export interface SharedSwitchOptions {
  /** Pages joined at once (default 32, at most 254). */
  maxPages?: number;
  /** Pages joined at once from one client address (default 16: one machine cannot take every page number). */
  maxPagesPerAddress?: number;
  /** A page's frame rate (token bucket, default 20000/s, bursts of a quarter second). */
  framesPerSecond?: number;
  /** A page's byte rate (default 32 MiB/s, bursts of a quarter second). */
  bytesPerSecond?: number;
  /** Bytes queued to a page's socket above which frames to it are dropped (default 4 MiB). */
  maxBufferedBytes?: number;
  clock?: () => number;
  log?: (line: string) => void;
}

/** No page number is free (the server's --shared limit). */
export class SharedSwitchFullError extends Error {
  constructor(limit: number, from?: string) {
    super(from ? `the shared switch has its ${limit} pages from ${from}` : `the shared switch has its ${limit} pages`);
    this.name = 'SharedSwitchFullError';
  }
}

export type PageState = 'joining' | 'joined' | 'leaving' | 'left';

/** A token bucket: `take(n)` is false once the rate is spent. */
class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(n: number): boolean {
    const time = this.now();
    if (time > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((time - this.last) * this.rate) / 1000);
      this.last = time;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

export class SharedPage {
  readonly hello: SharedHello;
  state: PageState = 'joining';
  portId: number | undefined;
  readonly drops: Partial<Record<SharedSwitchDropReason, number>> = {};
  readonly counters = { rxMessages: 0, rxFrames: 0, txFrames: 0 };
  /** Resolves when the join (and later the leave) steps queued so far are done. */
  private chain: Promise<void> = Promise.resolve();
  private readonly prefix: Uint8Array;
  private readonly frameBucket: TokenBucket;
  private readonly byteBucket: TokenBucket;

  constructor(
    private readonly shared: SharedSwitch,
    readonly number: number,
    readonly socket: PageSocket,
    readonly info: PageInfo,
    limits: { framesPerSecond: number; bytesPerSecond: number; clock: () => number },
  ) {
    this.hello = helloFor(number);
    this.prefix = pageMacPrefix(number);
    this.frameBucket = new TokenBucket(limits.framesPerSecond, limits.framesPerSecond / 4, limits.clock);
    this.byteBucket = new TokenBucket(limits.bytesPerSecond, Math.max(limits.bytesPerSecond / 4, SHARED_SWITCH_MTU + SHARED_LINK_HEADERS), limits.clock);
  }

  get label(): string {
    return `page ${this.number} (${this.info.origin} from ${this.info.address})`;
  }

  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * One WebSocket message from the page: a frame into the switch, or dropped
   * and counted. Anything at all may arrive here; it never throws.
   */
  receive(data: unknown, isBinary: boolean): void {
    this.counters.rxMessages++;
    if (!this.frameBucket.take(1)) return this.drop(SHARED_SWITCH_DROP_REASONS.rateLimit);
    let bytes: Uint8Array;
    if (!isBinary) return this.drop(SHARED_SWITCH_DROP_REASONS.textMessage);
    if (data instanceof Uint8Array) bytes = data;
    else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else return this.drop(SHARED_SWITCH_DROP_REASONS.textMessage);
    const length = bytes.length;
    if (length === 0) return this.drop(SHARED_SWITCH_DROP_REASONS.emptyMessage);
    if (length < ETH_HEADER_LENGTH) return this.drop(SHARED_SWITCH_DROP_REASONS.truncated);
    // The MTU plus the Ethernet header, and 4 bytes more for an 802.1Q tag (as the switch's own port check).
    const limit = SHARED_SWITCH_MTU + ETH_HEADER_LENGTH + (bytes[12] === 0x81 && bytes[13] === 0x00 ? 4 : 0);
    if (length > limit) return this.drop(SHARED_SWITCH_DROP_REASONS.oversize);
    const prefix = this.prefix;
    // Source MAC at 6..11: its first four bytes must be this page's (a multicast source fails too: the prefix is unicast).
    if (bytes[6] !== prefix[0] || bytes[7] !== prefix[1] || bytes[8] !== prefix[2] || bytes[9] !== prefix[3]) {
      return this.drop(SHARED_SWITCH_DROP_REASONS.foreignSourceMac);
    }
    if (!this.byteBucket.take(length)) return this.drop(SHARED_SWITCH_DROP_REASONS.rateLimit);
    const portId = this.portId;
    if (this.state !== 'joined' || portId === undefined) return this.drop(SHARED_SWITCH_DROP_REASONS.notConnected);
    this.counters.rxFrames++;
    // A copy: the socket library's buffer may be a view into a larger chunk it reuses.
    this.shared.switch.ingress(portId, 0, [{ data: bytes.slice() }]);
  }

  /** A drop that happened outside receive (e.g. the transport refused an oversized message). */
  drop(reason: SharedSwitchDropReason): void {
    bump(this.drops, reason);
    bump(this.shared.drops, reason);
  }

  /** The switch's delivery to this page: one message per frame, unless the socket is backed up. */
  toPage(frames: readonly Frame[]): void {
    if (this.state !== 'joined') {
      for (let i = 0; i < frames.length; i++) this.drop(SHARED_SWITCH_DROP_REASONS.notConnected);
      return;
    }
    for (let i = 0; i < frames.length; i++) {
      if (this.socket.bufferedAmount > this.shared.maxBufferedBytes) {
        this.drop(SHARED_SWITCH_DROP_REASONS.sendBacklog);
        continue;
      }
      try {
        this.socket.send(frames[i]!.data);
        this.counters.txFrames++;
      } catch {
        this.drop(SHARED_SWITCH_DROP_REASONS.notConnected);
      }
    }
  }

  /** PORT_CREATE, NIC_CREATE, NIC_CONNECT, then the hello. */
  enter(): Promise<void> {
    this.enqueue(async () => {
      if (this.state !== 'joining') return;
      const sw = this.shared.switch;
      const port = await sw.createPort({
        type: 'generic',
        name: `page ${this.number}: ${this.info.origin}`,
        properties: [{ type: 'custom', name: 'shared-page', value: { page: this.number, macPrefix: this.hello.macPrefix, origin: this.info.origin, address: this.info.address } }],
      });
      this.portId = port.id;
      await sw.createNic(port.id, {
        index: 0,
        type: 'synthetic',
        mac: parseMac(pageMac(this.number, 0xff, 0xff)),
        mtu: this.hello.mtu,
        friendlyName: `page ${this.number}`,
        sink: { deliver: (frames) => this.toPage(frames) },
      });
      await sw.connectNic(port.id, 0);
      if ((this.state as PageState) !== 'joining') return;
      this.state = 'joined';
      this.socket.send(JSON.stringify(this.hello));
    });
    return this.chain;
  }

  /** The stop order for the page's port (once), then the page number is free again. */
  leave(): Promise<void> {
    if (this.state === 'leaving' || this.state === 'left') return this.chain;
    this.state = 'leaving';
    this.enqueue(async () => {
      const portId = this.portId;
      this.portId = undefined;
      if (portId !== undefined && this.shared.switch.port(portId)) await this.shared.switch.stopPort(portId);
    });
    this.chain = this.chain.then(() => {
      this.state = 'left';
      this.shared.forget(this);
    });
    return this.chain;
  }

  status() {
    return {
      page: this.number,
      state: this.state,
      portId: this.portId ?? null,
      origin: this.info.origin,
      address: this.info.address,
      macPrefix: this.hello.macPrefix,
      ipBase: this.hello.ipBase,
      counters: { ...this.counters },
      drops: { ...this.drops },
    };
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.shared.log(`shared: ${this.label}: ${(error as Error).message}`);
    });
  }
}

export class SharedSwitch {
  readonly switch: Switch;
  /** Joined pages by number. */
  readonly pages = new Map<number, SharedPage>();
  /** Every page's drops, summed (also of pages that have left). */
  readonly drops: Partial<Record<SharedSwitchDropReason, number>> = {};
  readonly maxPages: number;
  readonly maxPagesPerAddress: number;
  readonly maxBufferedBytes: number;
  private readonly limits: { framesPerSecond: number; bytesPerSecond: number; clock: () => number };
  private readonly logLine: (line: string) => void;

  constructor(options: SharedSwitchOptions = {}) {
    const clock = options.clock ?? Date.now;
    this.switch = new Switch({ name: 'shared', clock, extensions: [new MacLearningForwarder()] });
    this.maxPages = Math.min(options.maxPages ?? 32, MAX_PAGE_NUMBER);
    this.maxPagesPerAddress = options.maxPagesPerAddress ?? 16;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 << 20;
    this.limits = { framesPerSecond: options.framesPerSecond ?? 20_000, bytesPerSecond: options.bytesPerSecond ?? 32 << 20, clock };
    this.logLine = options.log ?? (() => {});
  }

  get full(): boolean {
    return this.pages.size >= this.maxPages;
  }

  /** No room for another page from `host` (the client's address without its port). */
  fullFor(host: string): boolean {
    let count = 0;
    for (const page of this.pages.values()) if (clientHost(page.info.address) === host) count++;
    return this.full || count >= this.maxPagesPerAddress;
  }

  /**
   * Takes a page in at once (its messages may come before the port exists:
   * they are counted as not connected) and starts its join. Throws a
   * SharedSwitchFullError when no page number is free.
   */
  admit(socket: PageSocket, info: PageInfo): SharedPage {
    if (this.full) throw new SharedSwitchFullError(this.maxPages);
    const host = clientHost(info.address);
    if (this.fullFor(host)) throw new SharedSwitchFullError(this.maxPagesPerAddress, host);
    let number = 1;
    while (this.pages.has(number)) number++;
    const page = new SharedPage(this, number, socket, info, this.limits);
    this.pages.set(number, page);
    void page.enter().then(() => {
      if (page.state === 'joined') {
        this.log(`shared: ${page.label} joined: port ${page.portId}, MACs ${page.hello.macPrefix}:*, addresses ${page.hello.ipBase}.N/${page.hello.prefixLength}`);
        return;
      }
      if (page.state !== 'joining') return;
      // The join failed (logged by the page's chain, e.g. an extension vetoed PORT_CREATE): no hello, the page is told and leaves.
      try {
        page.socket.close(1011, 'could not join the shared switch');
      } catch {
        // Gone already.
      }
      void page.leave();
    });
    return page;
  }

  /** Called by the page once its stop order is done. */
  forget(page: SharedPage): void {
    if (this.pages.get(page.number) === page) this.pages.delete(page.number);
    this.log(`shared: ${page.label} left: its port's stop order ran`);
  }

  log(line: string): void {
    this.logLine(line);
  }

  status() {
    return {
      mtu: SHARED_SWITCH_MTU,
      maxPages: this.maxPages,
      pages: [...this.pages.values()].map((page) => page.status()),
      ports: this.switch.ports().map((port) => ({ id: port.id, type: port.type, name: port.name, state: port.state, nics: port.nics.length })),
      drops: { ...this.drops },
    };
  }

  /** Every page leaves (its socket is closed; its port's stop order runs). */
  async close(): Promise<void> {
    const pages = [...this.pages.values()];
    for (const page of pages) {
      try {
        page.socket.close(1001, 'server stopping');
      } catch {
        // Gone already.
      }
    }
    await Promise.all(pages.map((page) => page.leave()));
  }
}

/** 'ADDRESS:PORT' without the port (IPv6 addresses keep their colons). */
export function clientHost(address: string): string {
  return address.replace(/:\d+$/, '');
}
