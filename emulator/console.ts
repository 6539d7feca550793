// The guest's serial console (ttyS0) as output events, input writes, and a
// Duplex stream for terminals.
import { Duplex } from 'node:stream';

export interface SerialPort {
  onSerialOutput(listener: (bytes: Uint8Array) => void): () => void;
  sendSerial(bytes: Uint8Array): void;
}

const RECENT_LIMIT = 16 * 1024;

export class SerialConsole {
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private recentText = '';
  private closed = false;
  private readonly detach: () => void;

  constructor(private readonly port: SerialPort) {
    this.detach = port.onSerialOutput((bytes) => {
      this.recentText = (this.recentText + Buffer.from(bytes).toString('latin1')).slice(-RECENT_LIMIT);
      for (const listener of this.listeners) listener(bytes);
    });
  }

  /** Guest output from now on. Returns an unsubscribe function. */
  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Types into the guest's console (a string is sent as UTF-8). */
  write(input: string | Uint8Array): void {
    if (this.closed) return;
    this.port.sendSerial(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
  }

  /** The last few KiB of output, for error messages. */
  recent(maxChars = 2000): string {
    return this.recentText.slice(-maxChars);
  }

  /**
   * A stream attached from now on: reading gives guest output, writing types
   * into the guest. Destroy it to detach.
   */
  stream(): Duplex {
    let unsubscribe: (() => void) | undefined;
    const duplex = new Duplex({
      read: () => {},
      write: (chunk: Buffer, _encoding, callback) => {
        this.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        callback();
      },
      destroy: (error, callback) => {
        unsubscribe?.();
        callback(error);
      },
    });
    unsubscribe = this.onData((bytes) => duplex.push(Buffer.from(bytes)));
    return duplex;
  }

  close(): void {
    this.closed = true;
    this.detach();
    this.listeners.clear();
  }
}
