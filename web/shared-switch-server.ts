// `vmswitch web --shared`: the WebSocket door to the shared switch
// (shared-switch.ts), with the `ws` package. Node only.
//
// What is checked before a page may join (the upgrade request), in order:
//   path      /shared only (404)
//   Host      a name the server answers for (allowed-hosts.ts, as every HTTP
//             request: a rebound DNS name is refused) (421)
//   Origin    present, http(s), and the same origin as the Host: only a page
//             this server served may join; a page on another site, which a
//             browser would happily let open a WebSocket here, is refused (403)
//   protocol  the client asks for SHARED_SWITCH_PROTOCOL (400)
//   room      a page number is free, and the client's address has fewer
//             than its share of pages (16 of 32 by default) (503)
// Then, per connection: no compression (no inflate bombs, no CPU per frame),
// messages over 64 KiB close the connection (1009, counted); every message
// goes through SharedPage.receive; a ping every 30 s, and a page that does not
// answer is dropped (its port's stop order runs, as on close).
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { SHARED_SWITCH_DROP_REASONS } from '../host/drop-reasons.ts';
import { SHARED_SWITCH_PATH, SHARED_SWITCH_PROTOCOL } from '../host/uplink/websocket-protocol.ts';
import { SharedSwitch, type SharedSwitchOptions } from './shared-switch.ts';

// The parts of `ws` used here, typed by hand: the package ships no types and
// @types/ws would be one more dependency for five members.
interface WebSocket {
  readonly bufferedAmount: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): void;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): void;
  on(event: 'pong' | 'close', listener: () => void): void;
}
interface WebSocketServerLike {
  readonly clients: Set<WebSocket>;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WebSocket) => void): void;
  close(done: () => void): void;
}
type WebSocketServerClass = new (options: {
  noServer: true;
  maxPayload: number;
  perMessageDeflate: boolean;
  handleProtocols: (protocols: Set<string>) => string | false;
}) => WebSocketServerLike;
const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: WebSocketServerClass };

/** Largest WebSocket message accepted before the connection is closed (frames are far smaller: the rest is refused per frame). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
const HEARTBEAT_MS = 30_000;

export interface UpgradeRefusal {
  status: number;
  reason: 'path' | 'host' | 'origin' | 'protocol' | 'full';
  message: string;
}

/** Why an upgrade request may not join, or undefined when it may. */
export function upgradeRefusal(
  request: { url?: string | undefined; headers: Record<string, string | string[] | undefined> },
  hostAllowed: (header: string | undefined) => boolean,
  full: boolean,
): UpgradeRefusal | undefined {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path !== SHARED_SWITCH_PATH) return { status: 404, reason: 'path', message: `no WebSocket at ${path.slice(0, 100)}` };
  const host = header(request.headers.host);
  if (!hostAllowed(host)) return { status: 421, reason: 'host', message: 'this server does not answer for that host' };
  const origin = header(request.headers.origin);
  if (!sameOrigin(origin, host!)) return { status: 403, reason: 'origin', message: 'only pages served by this server may join its shared switch' };
  const protocols = (header(request.headers['sec-websocket-protocol']) ?? '').split(',').map((p) => p.trim());
  if (!protocols.includes(SHARED_SWITCH_PROTOCOL)) return { status: 400, reason: 'protocol', message: `ask for the WebSocket protocol ${SHARED_SWITCH_PROTOCOL}` };
  if (full) return { status: 503, reason: 'full', message: 'the shared switch is full' };
  return undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Origin `http(s)://H[:P]` names the same host and port as the Host header (default ports normalised). */
function sameOrigin(origin: string | undefined, host: string): boolean {
  if (!origin || origin === 'null') return false;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    if (url.pathname !== '/' || url.username || url.password || url.search) return false;
    const asServed = new URL(`${url.protocol}//${host}`);
    return url.host === asServed.host;
  } catch {
    return false;
  }
}

export interface SharedSwitchServer {
  shared: SharedSwitch;
  /** Refused upgrade requests by reason. */
  refused: Record<string, number>;
  /** For startWebServer's `upgrade` option. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, hostAllowed: (header: string | undefined) => boolean): void;
  close(): Promise<void>;
}

export function createSharedSwitchServer(options: SharedSwitchOptions = {}): SharedSwitchServer {
  const shared = new SharedSwitch(options);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SHARED_SWITCH_PROTOCOL) ? SHARED_SWITCH_PROTOCOL : false),
  });
  const refused: Record<string, number> = {};
  const alive = new WeakSet<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  function refuse(socket: Duplex, refusal: UpgradeRefusal): void {
    refused[refusal.reason] = (refused[refusal.reason] ?? 0) + 1;
    const body = `${refusal.message}\n`;
    const text = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request', 503: 'Service Unavailable' }[refusal.status] ?? 'Error';
    socket.end(`HTTP/1.1 ${refusal.status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  function connected(ws: WebSocket, request: IncomingMessage): void {
    let page;
    try {
      page = shared.admit(ws, { origin: String(request.headers.origin), address: `${request.socket.remoteAddress}:${request.socket.remotePort}` });
    } catch (error) {
      ws.close(1013, (error as Error).message.slice(0, 100));
      return;
    }
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    ws.on('message', (data, isBinary) => page.receive(data, isBinary));
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the connection itself after a protocol error (1009 for a message over maxPayload).
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') page.drop(SHARED_SWITCH_DROP_REASONS.messageTooLarge);
      else shared.log(`shared: ${page.label}: ${error.message}`);
    });
    ws.on('close', () => void page.leave());
  }

  return {
    shared,
    refused,
    upgrade(request, socket, head, hostAllowed) {
      socket.on('error', () => socket.destroy());
      const refusal = upgradeRefusal(request, hostAllowed, shared.fullFor(request.socket.remoteAddress ?? ''));
      if (refusal) {
        shared.log(`shared: refused a WebSocket from ${request.socket.remoteAddress}: ${refusal.message} (${refusal.status})`);
        return refuse(socket, refusal);
      }
      wss.handleUpgrade(request, socket, head, (ws) => connected(ws, request));
    },
    async close() {
      clearInterval(heartbeat);
      for (const ws of wss.clients) ws.terminate();
      await shared.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
