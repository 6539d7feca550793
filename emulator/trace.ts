// VMSWITCH_TRACE: which devices print their trace events (see TraceSink in
// platform.ts), and how an event reads as one line. A comma list of device
// models ('e1000,virtio-net') or 'all'. Reads the environment through
// globalThis.process so the module also loads in a page (which has none).
import type { TraceFields, TraceSink } from './platform.ts';

export const TRACE_ENV = 'VMSWITCH_TRACE';

/** The devices a VMSWITCH_TRACE value names ('all' for every device), or null when it names none. */
export function parseTraceDevices(value: string | undefined): ReadonlySet<string> | 'all' | null {
  const names = (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.includes('all')) return 'all';
  return names.length ? new Set(names) : null;
}

/** `[trace] e1000 mmio.write reg=TDT offset=0x3818 size=0x4 value=0x1f`: numbers in hex, fields in the order given. */
export function formatTraceEvent(device: string, event: string, fields: TraceFields): string {
  let line = `[trace] ${device} ${event}`;
  for (const key in fields) {
    const value = fields[key]!;
    line += ` ${key}=${typeof value === 'number' ? `0x${value.toString(16)}` : String(value)}`;
  }
  return line;
}

/** A sink printing the events of the named devices, or undefined (no tracing) when the variable names none. */
export function traceSinkFromEnv(
  env: Readonly<Record<string, string | undefined>> | undefined = globalThis.process?.env,
  print: (line: string) => void = (line) => console.error(line),
): TraceSink | undefined {
  const devices = parseTraceDevices(env?.[TRACE_ENV]);
  if (!devices) return undefined;
  return (device, event, fields) => {
    if (devices === 'all' || devices.has(device)) print(formatTraceEvent(device, event, fields));
  };
}
