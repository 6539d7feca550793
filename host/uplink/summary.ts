// One line of text about an uplink for the CLI: datagrams, frames, drops by reason.
import type { ExternalPort } from './external-port.ts';
import type { VxlanEndpoint } from './vxlan.ts';

export function formatUplinkSummary(uplink: { description: string; drops(): Record<string, number>; endpoint?: VxlanEndpoint }, port: ExternalPort | undefined): string {
  const drops: Record<string, number> = { ...uplink.drops() };
  for (const [reason, count] of Object.entries(port?.drops ?? {})) drops[reason] = (drops[reason] ?? 0) + (count ?? 0);
  const c = uplink.endpoint?.counters;
  const traffic = c ? `tx ${c.txFrames} frames in ${c.txDatagrams} datagrams, rx ${c.rxFrames} frames of ${c.rxDatagrams} datagrams` : '';
  const dropText = Object.entries(drops).map(([reason, count]) => `${reason} ${count}`).join(', ') || 'none';
  return `uplink ${uplink.description}: ${traffic}; drops: ${dropText}`;
}
