// A fake of the browser's WebSocket for unit tests (WebSocketUplink and the
// shared switch's tests, web/shared-switch-testing.ts): messages cross in a
// microtask, as a real socket's arrive in a later task.
import type { WebSocketLike } from './websocket-uplink.ts';

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
