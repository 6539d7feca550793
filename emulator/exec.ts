// Running commands in the guest's shell over the serial console.
//
// Each call gets a random nonce. The markers that delimit its output are
// printed by the guest's printf from two pieces ('__VMS' 'X<nonce>B'), so the
// echoed command line never contains them and output that happens to contain
// marker-like text cannot match a nonce it never saw. The command itself is
// sent octal-escaped in the shell's $'...' quoting (no fork, unlike
// "$(printf ...)": that saved ~200 ms per call in v86) and run with eval in a
// subshell with stdin from /dev/null, so any quoting or newlines in it stay
// intact and `exit N` ends only the subshell.
//
// Host-neutral (Web Crypto, TextEncoder/TextDecoder, no Buffer): the same
// exec runs inside a VM's thread in Node and could in a Web Worker.

/** What exec needs of the serial console (SerialConsole is one). */
export interface ConsolePort {
  onData(listener: (bytes: Uint8Array) => void): () => void;
  write(input: string | Uint8Array): void;
}

/** A fresh nonce: `bytes` random bytes as hex. */
function nonceHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Bytes as a string of one char per byte (what Buffer's 'latin1' gave; TextDecoder's 'latin1' is windows-1252). */
function bytesToLatin1(bytes: Uint8Array): string {
  let out = '';
  for (let at = 0; at < bytes.length; at += 8192) out += String.fromCharCode(...bytes.subarray(at, at + 8192));
  return out;
}

const utf8 = new TextDecoder();

export interface ExecResult {
  output: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Default 30 s. */
  timeoutMs?: number;
}

export class ExecTimeoutError extends Error {
  override name = 'ExecTimeoutError';
  constructor(readonly command: string, readonly timeoutMs: number, readonly partialOutput: string, recovered: boolean) {
    super(
      `guest command timed out after ${timeoutMs} ms: ${JSON.stringify(command.length > 80 ? command.slice(0, 77) + '...' : command)}` +
        (recovered ? ' (interrupted; the shell is usable)' : ' (the shell did not recover from Ctrl-C)'),
    );
  }
}

export class ShellClosedError extends Error {
  override name = 'ShellClosedError';
}

/** The guest's line editor takes lines up to about 1 KiB; longer commands go in pieces. */
const MAX_LINE = 800;
const SAFE = /[A-Za-z0-9 ,._+:@%/=-]/;

/** The body of a $'...' word that yields `text` (UTF-8 bytes; anything but plain characters as \NNN octal). */
export function escapeForDollarQuote(text: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(text)) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(ch) ? ch : '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

/** Splits escaped text without cutting an escape sequence. */
function chunksOf(escaped: string, size: number): string[] {
  const chunks: string[] = [];
  let at = 0;
  while (at < escaped.length) {
    let end = Math.min(at + size, escaped.length);
    const slash = escaped.lastIndexOf('\\', end - 1);
    if (slash >= at && slash + 4 > end && end < escaped.length) end = slash;
    chunks.push(escaped.slice(at, end));
    at = end;
  }
  return chunks;
}

interface Waiter {
  /** Plain text that must appear before the (costlier) pattern is tried. */
  trigger: string;
  pattern: RegExp;
  resolve(match: RegExpExecArray): void;
}

export class ShellSession {
  /** Console output since the current wait began, one char per byte (latin1). */
  private buffer = '';
  private scanFrom = 0;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly detach: () => void;
  private readonly closeWaiters = new Set<(error: Error) => void>();

  /** How long each Ctrl-C / resync attempt waits for the shell after a timeout. */
  private readonly recoveryMs: number;

  constructor(private readonly console: ConsolePort, opts: { recoveryMs?: number } = {}) {
    this.recoveryMs = opts.recoveryMs ?? 3000;
    this.detach = console.onData((bytes) => this.onData(bytes));
  }

  private onData(bytes: Uint8Array): void {
    if (!this.waiter) return;
    this.buffer += bytesToLatin1(bytes);
    this.check();
  }

  private check(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const at = this.buffer.indexOf(waiter.trigger, this.scanFrom);
    if (at < 0) {
      // The trigger can start at most this far back next time.
      this.scanFrom = Math.max(0, this.buffer.length - waiter.trigger.length);
      return;
    }
    this.scanFrom = at;
    waiter.pattern.lastIndex = 0;
    const match = waiter.pattern.exec(this.buffer);
    if (match) {
      this.waiter = undefined;
      waiter.resolve(match);
    }
  }

  /** Resolves with the first match of `pattern` (global flag) in output from now on; undefined on timeout. */
  private waitFor(trigger: string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | undefined> {
    if (this.closed) return Promise.reject(new ShellClosedError('the VM was stopped'));
    this.buffer = '';
    this.scanFrom = 0;
    return new Promise((resolve, reject) => {
      const onClose = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.closeWaiters.delete(onClose);
        resolve(undefined);
      }, timeoutMs);
      this.closeWaiters.add(onClose);
      this.waiter = {
        trigger,
        pattern,
        resolve: (match) => {
          clearTimeout(timer);
          this.closeWaiters.delete(onClose);
          resolve(match);
        },
      };
    });
  }

  /** Output received so far in the current wait (for timeout errors). */
  private pendingText(): string {
    return this.buffer;
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits until the shell answers a no-op; after boot, restore or a timed-out command. */
  sync(timeoutMs = 10_000): Promise<boolean> {
    return this.serialise(() => this.syncNow(timeoutMs));
  }

  private async syncNow(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    // Resend now and then: input typed before the shell started reading may be lost.
    while (Date.now() < deadline) {
      const nonce = nonceHex(6);
      const pattern = new RegExp(`__VMSX${nonce}S`, 'g');
      const waiting = this.waitFor(`__VMSX${nonce}S`, pattern, Math.min(2000, Math.max(1, deadline - Date.now())));
      this.console.write(` printf '%s%s\\n' __VMS X${nonce}S\n`);
      if (await waiting) return true;
    }
    return false;
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.serialise(() => this.execNow(command, opts.timeoutMs ?? 30_000));
  }

  private async execNow(command: string, timeoutMs: number): Promise<ExecResult> {
    const nonce = nonceHex(6);
    const escaped = escapeForDollarQuote(command);
    // The command goes into a variable first: an assignment's value is never split or globbed.
    let assign: string;
    if (escaped.length <= MAX_LINE - 150) {
      assign = `__vmsc=$'${escaped}'; `;
    } else {
      // Built a line at a time, each line acknowledged.
      const chunks = chunksOf(escaped, MAX_LINE - 60);
      for (const [i, chunk] of chunks.entries()) {
        const ack = new RegExp(`__VMSX${nonce}C${i}\\r?\\n`, 'g');
        const waiting = this.waitFor(`__VMSX${nonce}C${i}`, ack, 10_000);
        const piece = i === 0 ? `__vmsc=$'${chunk}'` : `__vmsc="$__vmsc"$'${chunk}'`;
        this.console.write(` ${piece}; printf '%s%s\\n' __VMS X${nonce}C${i}\n`);
        if (!(await waiting)) throw new Error('the guest shell did not take a long command (no acknowledgement)');
      }
      assign = '';
    }
    const pattern = new RegExp(`__VMSX${nonce}B\\r?\\n([\\s\\S]*?)\\r?\\n__VMSX${nonce}E (\\d+)\\r?\\n`, 'g');
    const waiting = this.waitFor(`__VMSX${nonce}E`, pattern, timeoutMs);
    this.console.write(
      ` ${assign}printf '%s%s\\n' __VMS X${nonce}B; ( eval "$__vmsc" ) </dev/null; printf '\\n%s%s %d\\n' __VMS X${nonce}E $?\n`,
    );
    const match = await waiting;
    if (!match) {
      const text = this.pendingText();
      const begin = new RegExp(`__VMSX${nonce}B\\r?\\n`).exec(text);
      const partial = begin ? this.decode(text.slice(begin.index + begin[0].length)).replace(/\r\n/g, '\n') : '';
      const recovered = await this.interrupt();
      throw new ExecTimeoutError(command, timeoutMs, partial, recovered);
    }
    return { output: this.decode(match[1]!).replace(/\r\n/g, '\n'), exitCode: Number(match[2]) };
  }

  /** Ctrl-C (then Ctrl-\) until the shell answers again. */
  private async interrupt(): Promise<boolean> {
    for (const key of ['\x03', '\x03', '\x1c', '\x1c']) {
      this.console.write(key);
      if (await this.syncNow(this.recoveryMs)) return true;
    }
    return false;
  }

  private decode(latin1: string): string {
    return utf8.decode(Uint8Array.from(latin1, (ch) => ch.charCodeAt(0)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.waiter = undefined;
    const error = new ShellClosedError('the VM was stopped');
    for (const reject of this.closeWaiters) reject(error);
    this.closeWaiters.clear();
  }
}
