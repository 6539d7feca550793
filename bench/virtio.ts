// virtio-net to virtio-net over a plain wire: iperf3 TCP throughput and ping
// RTT with the offloads on and with them off in both guests (ethtool -K tso
// off gso off tx off), against v86's own virtio-net on the same kind of wire
// in the same run (v86virtio.*; issue 5: >= 3x its throughput, RTT no worse).
// Each round warms a fresh pair of ours up (bench/v86-baseline.ts says why),
// measures offloads on and off (order alternating by round), stops it, then a v86
// virtio-net pair: one pair at a time, alternating, so load noise hits both.
// Figures are medians of VMSWITCH_BENCH_RUNS rounds (default 3).
import type { BenchEntry } from './types.ts';
import { alternateWithV86, nicEntries, rttMs, sh, startPair, tcpMibps, type Sample } from './v86-baseline.ts';

async function measureOurs(round: string, offFirst: boolean): Promise<{ on: Sample; off: Sample }> {
  const pair = await startPair('virtio', 'bv', '10.8.0');
  try {
    const measure = async (): Promise<Sample> => ({ mibps: await tcpMibps(pair), rtt: await rttMs(pair) });
    const offloads = (on: boolean) => Promise.all([pair.a, pair.b].map((vm) => sh(vm, `ethtool -K eth0 tso ${on ? 'on' : 'off'} gso ${on ? 'on' : 'off'} tx ${on ? 'on' : 'off'}`)));
    // The guest keeps getting faster for a while after the warm-up, so the order of the two settings alternates by round.
    // ethtool changes mid-connection are not measured: each setting gets its own iperf3 run.
    let on: Sample, off: Sample;
    if (offFirst) {
      await offloads(false);
      off = await measure();
      await offloads(true);
      on = await measure();
    } else {
      on = await measure();
      await offloads(false);
      off = await measure();
    }
    console.log(`virtio ${round}: offloads on ${on.mibps.toFixed(2)} MiB/s rtt ${on.rtt.toFixed(2)} ms; off ${off.mibps.toFixed(2)} MiB/s rtt ${off.rtt.toFixed(2)} ms`);
    return { on, off };
  } finally {
    await pair.stop();
  }
}

export async function run(): Promise<BenchEntry[]> {
  const { on, off } = await alternateWithV86(measureOurs);
  return nicEntries('virtio', on, off);
}
