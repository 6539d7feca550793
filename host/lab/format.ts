// Text for people: one line per OID event, the per-port counters table, and
// the JSON line of `--oid-log`. Shared by `vmswitch lab` and the demo.
import type { LabOidEvent } from './lab.ts';
import type { LabPortRow } from './port-records.ts';

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  cyan(text: string): string;
}

const plain: Style = { bold: (t) => t, dim: (t) => t, green: (t) => t, red: (t) => t, cyan: (t) => t };

/** ANSI colours when `enabled` (a TTY without NO_COLOR), else plain text. */
export function makeStyle(enabled: boolean): Style {
  if (!enabled) return plain;
  const wrap = (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), red: wrap(31), cyan: wrap(36) };
}

/** "OID_SWITCH_NIC_CONNECT" -> "NIC_CONNECT". */
export function shortOid(oid: string): string {
  return oid.replace(/^OID_SWITCH_/, '');
}

/** One OID event: elapsed time, OID, port/NIC, VM interface, status (and who vetoed). */
export function formatOidLine(event: LabOidEvent, startedAt: number, style: Style = plain): string {
  const elapsed = `${((event.time - startedAt) / 1000).toFixed(3).padStart(8)}s`;
  const where = event.nicIndex === undefined ? `port ${event.portId}` : `port ${event.portId} nic ${event.nicIndex}`;
  const who = event.vm ? `${event.vm}/${event.nic ?? '?'}${event.model ? ` (${event.model})` : ''}` : '-';
  const status =
    event.status === 'success'
      ? style.green('success')
      : style.red(`${event.status}${event.vetoedBy ? ` by ${event.vetoedBy}` : ''}${event.detail ? `: ${event.detail}` : ''}`);
  return `${style.dim(elapsed)}  ${style.cyan(shortOid(event.oid).padEnd(14))} ${where.padEnd(16)} ${who.padEnd(16)} ${status}`;
}

/** The `--oid-log` record: at least oid, vm, portId, nicIndex, status, time (ms since the epoch). */
export function oidLogRecord(event: LabOidEvent): Record<string, unknown> {
  return {
    time: event.time,
    oid: event.oid,
    vm: event.vm ?? null,
    nic: event.nic ?? null,
    portId: event.portId,
    nicIndex: event.nicIndex ?? null,
    status: event.status,
    ...(event.vetoedBy !== undefined ? { vetoedBy: event.vetoedBy } : {}),
    ...(event.detail !== undefined ? { detail: event.detail } : {}),
  };
}

function drops(record: Record<string, number>): string {
  const entries = Object.entries(record).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([reason, n]) => `${reason}=${n}`).join(' ') : '-';
}

/** The per-port counters as an aligned table (rx: from the VM into the switch, tx: out of the switch to the VM). */
export function formatPortTable(rows: readonly LabPortRow[], style: Style = plain): string {
  const header = ['port', 'vm/nic', 'model', 'mac', 'state', 'rx pkts', 'rx bytes', 'tx pkts', 'tx bytes', 'drops'];
  const body = rows.map((row) => [
    row.switch !== undefined ? `${row.switch}:${row.portId}` : String(row.portId),
    `${row.vm}/${row.nic}`,
    row.model,
    row.mac,
    row.fault !== undefined ? 'failed' : row.portState === 'created' ? row.nicState : row.portState === 'teardown' ? 'teardown' : 'deleted',
    String(row.counters.rxPackets),
    String(row.counters.rxBytes),
    String(row.counters.txPackets),
    String(row.counters.txBytes),
    drops({ ...row.counters.drops, ...prefixed('to-guest:', row.deliveryDrops) }),
  ]);
  if (!body.length) return style.dim('(no ports)');
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const numeric = new Set([0, 5, 6, 7, 8]);
  const line = (cells: string[]) => cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [style.bold(line(header)), ...body.map(line)].join('\n');
}

function prefixed(prefix: string, record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [`${prefix}${k}`, v]));
}
