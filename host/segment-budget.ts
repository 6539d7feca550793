// How much software segmentation one port's guest may cause per unit of time.
// A GSO frame the guest cannot take whole is cut into segments for it
// (attach.ts deliverToGuest); a sender chooses how many (64 KiB at a small
// segment size) and the switch builds them once per receiver, so without a
// bound one guest write turns into hundreds of thousands of allocations and
// a stalled event loop. A token bucket per receiving port, on the switch's
// clock, pays for the segments and bytes built; a frame that does not fit
// is dropped whole (DELIVERY_DROP_REASONS.segmentBudget), never cut short.
//
// Charged at the receiver because that is where the work is done and what
// bounds it: a guest can only take so many frames per second, so segments
// beyond that are work spent on frames its ring would drop anyway. A
// sender that floods one receiver gains nothing it could not already get
// by flooding it with plain frames.
import type { Frame } from '../emulator/net/frame.ts';

export interface SegmentBudgetLimits {
  /** Refill rate: segments per second. */
  readonly segmentsPerSecond: number;
  /** Refill rate: bytes of segments built per second. */
  readonly bytesPerSecond: number;
  /** Bucket size: the most segments built at once (one delivery batch). */
  readonly burstSegments: number;
  readonly burstBytes: number;
}

/**
 * What a guest at line rate needs, with room to spare. The fastest path in
 * this emulator, a virtio pair's TCP, does about 90 MiB/s: at MSS 1448 that
 * is 65k segments/s (the e1000, the usual receiver that needs software
 * segmentation, does about 25 MiB/s, 18k segments/s). The rates are twice
 * (segments) and nearly three times (bytes) that figure; the bursts hold one
 * whole 256-entry virtio transmit ring of 64 KiB frames at MSS 1448
 * (256 x 46 = 11.8k segments, 16.6 MiB built) delivered at once.
 * What an attacker gets at most is then what line-rate traffic costs anyway
 * (measured with offload.ts segment on the 2-core build machine): segments
 * at the floor (MIN_GSO_SEGMENT_SIZE, 88) take about 0.7 us to build, at
 * MSS 1448 about 3 us, so 128k/s of the small ones costs under 100 ms of
 * event-loop time per second per receiver, half of what 65k/s of full-sized
 * ones do; one burst at the floor is about 5 MB of segments per receiver.
 */
export const SEGMENT_BUDGET: SegmentBudgetLimits = Object.freeze({
  segmentsPerSecond: 128 * 1024,
  bytesPerSecond: 256 * 1024 * 1024,
  burstSegments: 16 * 1024,
  burstBytes: 24 * 1024 * 1024,
});

export class SegmentBudget {
  private segments: number;
  private bytes: number;
  private last: number;

  constructor(
    /** Milliseconds (the switch's clock). */
    private readonly clock: () => number,
    readonly limits: SegmentBudgetLimits = SEGMENT_BUDGET,
  ) {
    this.segments = limits.burstSegments;
    this.bytes = limits.burstBytes;
    this.last = clock();
  }

  /**
   * Pays for segmenting GSO frame `frame`: its payload after `headerLength`
   * cut at `segmentSize`, each piece with the headers in front (UDP
   * fragmentation rounds the cut down to 8 bytes: a few percent more pieces,
   * well inside the margin). The port checked the fields (validate.ts
   * frameProblem). False, with nothing taken, when the budget is short.
   */
  takeFor(frame: Frame): boolean {
    const gso = frame.gso;
    if (!gso) return true;
    const payload = Math.max(0, frame.data.length - gso.headerLength);
    const segments = Math.max(1, Math.ceil(payload / gso.segmentSize));
    return this.take(segments, segments * gso.headerLength + payload);
  }

  /** Takes the cost of building `segments` segments of `bytes` bytes in all; false (and nothing taken) when the budget is short. */
  take(segments: number, bytes: number): boolean {
    this.refill();
    if (segments > this.segments || bytes > this.bytes) return false;
    this.segments -= segments;
    this.bytes -= bytes;
    return true;
  }

  private refill(): void {
    const now = this.clock();
    const elapsed = now - this.last;
    // A clock that steps back (a wall clock set back) refills nothing and restarts from here.
    this.last = now;
    if (!(elapsed > 0)) return;
    const { segmentsPerSecond, bytesPerSecond, burstSegments, burstBytes } = this.limits;
    this.segments = Math.min(burstSegments, this.segments + (elapsed * segmentsPerSecond) / 1000);
    this.bytes = Math.min(burstBytes, this.bytes + (elapsed * bytesPerSecond) / 1000);
  }
}
