// How a guest ending itself shows on its serial console: the kernel's last
// line after `poweroff`, `halt` or `reboot`. One reading for the Node VM
// (vm.ts), the lab (host/lab) and the browser worker, so no node: imports.

/** A guest's own end; a halt counts as a poweroff. */
export type GuestEnd = 'poweroff' | 'reboot';

/**
 * The kernel's last words after `poweroff` or `halt`: "reboot: Power down",
 * or, as in v86 where the kernel finds no ACPI power-off, "reboot: System
 * halted". Both end the VM.
 */
export const POWER_DOWN_LINES = ['reboot: Power down', 'reboot: System halted'];
/** The kernel's last words before a reboot. */
export const RESTART_LINE = 'reboot: Restarting system';

/** True once `needle` has appeared in text fed in arbitrary pieces. */
export class TextWatch {
  private tail = '';
  seen = false;
  constructor(private readonly needle: string) {}
  feed(text: string): boolean {
    if (this.seen) return true;
    this.tail = (this.tail + text).slice(-(this.needle.length + text.length));
    this.seen = this.tail.includes(this.needle);
    if (!this.seen) this.tail = this.tail.slice(-this.needle.length);
    return this.seen;
  }
}

/** Watches console output (arriving in arbitrary pieces, a byte at a time from the serial port) for the guest's end. */
export class GuestEndWatch {
  private readonly powerDown = POWER_DOWN_LINES.map((line) => new TextWatch(line));
  private readonly restart = new TextWatch(RESTART_LINE);
  private readonly decoder = new TextDecoder();

  /** The guest's end once its last line has been seen (and from then on), else undefined. */
  feed(output: string | Uint8Array): GuestEnd | undefined {
    const text = typeof output === 'string' ? output : this.decoder.decode(output, { stream: true });
    // Every watch sees every piece: a line split across pieces is still found.
    const poweredOff = this.powerDown.map((watch) => watch.feed(text)).includes(true);
    const restarted = this.restart.feed(text);
    return poweredOff ? 'poweroff' : restarted ? 'reboot' : undefined;
  }
}

/** The guest's end if `tail` (the console's latest output) holds its last line. */
export function guestEndFromConsole(tail: string): GuestEnd | undefined {
  return new GuestEndWatch().feed(tail);
}
