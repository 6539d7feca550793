// What a browser VM thread tells the guest and what it waits for on the console:
// the kernel command line (identity as vmswitch.* parameters, read by the
// image's /init), the re-personalisation command after a snapshot restore,
// and the prompt detection. Pure functions: unit-tested in Node.
/** The identity a VM is given at boot or after a restore. */
export interface GuestIdentity {
  name: string;
  ip: string[];
  hosts: Record<string, string>;
  nics: { mac: string }[];
}

/** /init prints this once the guest is configured (guest-images/init/init.ts READY_LINE). */
export const READY_LINE = 'vmswitch-ready';

function hostsSetting(hosts: Record<string, string>): string {
  return Object.entries(hosts)
    .map(([name, ip]) => `${name}=${ip}`)
    .join(',');
}

export function bootCommandLine(config: Pick<GuestIdentity, 'name' | 'ip' | 'hosts'>): string {
  const words = ['console=ttyS0', 'loglevel=3', 'mitigations=off', 'tsc=reliable', 'no_timer_check', `vmswitch.hostname=${config.name}`];
  if (config.ip.length) words.push(`vmswitch.ip=${config.ip.join(',')}`);
  const hosts = hostsSetting(config.hosts);
  if (hosts) words.push(`vmswitch.hosts=${hosts}`);
  return words.join(' ');
}

/**
 * The shell line that gives a VM restored from a template its own identity,
 * ending with a marker the worker waits for. The marker is printed by the
 * shell from two pieces so the echoed command line never contains it whole.
 */
export function personaliseCommand(config: Pick<GuestIdentity, 'name' | 'ip' | 'hosts' | 'nics'>, nonce = Math.random().toString(36).slice(2, 10)): { line: string; marker: string } {
  const settings = [`hostname=${config.name}`, `ip=${config.ip.join(',')}`];
  const hosts = hostsSetting(config.hosts);
  if (hosts) settings.push(`hosts=${hosts}`);
  settings.push(`mac=${config.nics.map((nic, i) => `eth${i}=${nic.mac}`).join(',')}`);
  const marker = `vmsw-done-${nonce}`;
  const line = `/sbin/vmswitch-config ${settings.join(' ')}; echo "vmsw-done-""${nonce}:$?"`;
  return { line, marker };
}

/** Watches console text (arriving in arbitrary pieces) for the boot's end and for markers. */
export class PromptWatcher {
  private tail = '';
  private sawReady = false;
  /** Exit status printed after the last marker found. */
  markerStatus: number | undefined;
  /** Console text that came after the marker's line (the shell's next prompt, usually). */
  afterMarker = '';

  private append(text: string): string {
    // Keep a bounded tail: enough to match a marker split across chunks.
    this.tail = (this.tail + text).slice(-512);
    return this.tail;
  }

  /** True once READY_LINE has been seen and a shell prompt followed it. */
  feedBoot(text: string): boolean {
    const tail = this.append(text);
    if (!this.sawReady) {
      const at = tail.indexOf(READY_LINE);
      if (at < 0) return false;
      this.sawReady = true;
      this.tail = tail.slice(at + READY_LINE.length);
    }
    // busybox's shell asks the terminal for the cursor position (ESC [6n) right after its prompt.
    return /[#$] (\x1b\[[0-9;?]*[A-Za-z])*$/.test(this.tail);
  }

  /** True once `marker:STATUS` followed by a line end has been seen. */
  feedMarker(text: string, marker: string): boolean {
    const tail = this.append(text);
    const match = new RegExp(`${marker}:(\\d+)\\r?\\n`).exec(tail);
    if (!match) return false;
    this.markerStatus = Number(match[1]);
    this.afterMarker = tail.slice(match.index + match[0].length);
    this.tail = '';
    return true;
  }
}
