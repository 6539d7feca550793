// A capture extension for the panel: keeps the last N frames that crossed the
// switch with their source, destinations and a one-line summary. Summaries are
// made lazily (only for frames still in the ring when the panel draws).
import type { BatchView, EgressBatch, Extension } from '../../host/extension.ts';
import { summarizeFrame, type FrameSummary } from './frame-summary.ts';

export interface LoggedFrame {
  seq: number;
  time: number;
  fromPort: number;
  /** Ports it was delivered to; empty when it was dropped or had nowhere to go. */
  toPorts: number[];
  length: number;
  data: Uint8Array;
}

export class FrameLog implements Extension {
  readonly name = 'panel-frame-log';
  readonly kind = 'capture' as const;
  private ring: LoggedFrame[] = [];
  private seq = 0;
  private readonly summaries = new WeakMap<LoggedFrame, FrameSummary>();

  /** Called after each batch with frames in it (the panel redraws on the next animation frame). */
  onFrames: (() => void) | null = null;

  constructor(
    readonly capacity = 200,
    /** Bytes kept per frame: enough for every header the summary reads. */
    private readonly keepBytes = 128,
  ) {}

  egress(batch: EgressBatch | BatchView): void {
    if (batch.count === 0) return;
    for (let i = 0; i < batch.count; i++) {
      const toPorts: number[] = [];
      if (!batch.isDropped(i)) {
        for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
          if (batch.excluded(d) === null) toPorts.push(batch.destination(d).portId);
        }
      }
      const data = batch.frame(i).data;
      this.ring.push({ seq: ++this.seq, time: batch.time, fromPort: batch.sourcePortId(i), toPorts, length: data.length, data: data.slice(0, this.keepBytes) });
    }
    if (this.ring.length > this.capacity * 2) this.ring = this.ring.slice(-this.capacity);
    this.onFrames?.();
  }

  /** The newest frames, newest last. */
  last(count = this.capacity): LoggedFrame[] {
    return this.ring.slice(-Math.min(count, this.capacity));
  }

  summary(frame: LoggedFrame): FrameSummary {
    let summary = this.summaries.get(frame);
    if (!summary) this.summaries.set(frame, (summary = summarizeFrame(frame.data)));
    return summary;
  }

  get total(): number {
    return this.seq;
  }

  clear(): void {
    this.ring = [];
  }
}
