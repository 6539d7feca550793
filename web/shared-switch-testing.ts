// Fakes for the shared switch's unit tests and fuzz target: a WebSocket pair
// in memory, the browser end (WebSocketLike, for WebSocketUplink) joined to the
// server end (PageSocket, for SharedSwitch.admit). Messages cross in a
// microtask, as a real socket's arrive in a later task: nothing re-enters.
import { FakeBrowserSocket } from '../host/uplink/websocket-testing.ts';
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
