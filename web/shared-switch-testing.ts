// Fakes for the shared switch's unit tests and fuzz target: a WebSocket pair
// in memory, the browser end (WebSocketLike, for WebSocketUplink) joined to the
// server end (PageSocket, for SharedSwitch.admit). Messages cross in a
// microtask, as a real socket's arrive in a later task: nothing re-enters.
import type { WebSocketLike } from '../host/uplink/websocket-uplink.ts';
import type { PageSocket, SharedPage, SharedSwitch } from './shared-switch.ts';

/** A server-side socket that records what it was given. */
export class RecordingPageSocket implements PageSocket {
  bufferedAmount = 0;
  readonly sent: (Uint8Array | string)[] = [];
  closed: { code?: number; reason?: string } | undefined;
  send(data: Uint8Array | string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closed = { ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) };
  }
  get frames(): Uint8Array[] {
    return this.sent.filter((m): m is Uint8Array => typeof m !== 'string');
  }
}

/** The browser's end of an in-memory WebSocket. */
export class FakeBrowserSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 0;
  bufferedAmount = 0;
  readonly url = 'ws://127.0.0.1/shared';
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** What the page sent (when not linked to a server). */
  readonly sent: Uint8Array[] = [];
  /** Set by link(): where the page's messages go. */
  toServer: ((data: Uint8Array) => void) | undefined;
  onClosed: (() => void) | undefined;

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    const copy = data.slice();
    if (this.toServer) queueMicrotask(() => this.toServer!(copy));
    else this.sent.push(copy);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => {
      this.onclose?.({ code, reason });
      this.onClosed?.();
    });
  }

  /** The server sends: binary as an ArrayBuffer (binaryType 'arraybuffer'), text as a string. */
  serverSends(data: Uint8Array | string): void {
    if (this.readyState !== 1) return;
    const message = typeof data === 'string' ? data : data.slice().buffer;
    queueMicrotask(() => this.onmessage?.({ data: message }));
  }
}

/** A page joined to `shared` through a fake socket pair. */
export function linkPage(shared: SharedSwitch, origin = 'http://127.0.0.1:8086'): { browser: FakeBrowserSocket; page: SharedPage } {
  const browser = new FakeBrowserSocket();
  browser.readyState = 1;
  const serverEnd: PageSocket = {
    get bufferedAmount() {
      return 0;
    },
    send: (data) => browser.serverSends(data),
    close: (code, reason) => browser.close(code, reason),
  };
  const page = shared.admit(serverEnd, { origin, address: '127.0.0.1:50000' });
  browser.toServer = (data) => page.receive(data, true);
  browser.onClosed = () => void page.leave();
  return { browser, page };
}
