// Frames, offloads and driver events as structured-clone messages between a
// VM's thread and the switch's thread (Node worker_threads or Web Workers).
// Frames cross in batches with their ArrayBuffers transferred; each buffer
// holds exactly one frame so a transfer never detaches anything else.
import type { ChecksumRequest, Frame, GsoRequest, GsoType, RxOffloads } from '../net/frame.ts';
import { formatMac } from '../net/frame.ts';
import type { NicDriverEvent } from '../net/nic.ts';

export interface WireFrame {
  data: Uint8Array;
  csum?: ChecksumRequest;
  gso?: GsoRequest;
  csumVerified?: boolean;
}

export interface WireRxOffloads {
  csum: boolean;
  gso: GsoType[];
  maxFrameSize: number;
}

export type WireDriverEvent =
  | { type: 'ready' }
  | { type: 'stopped'; reason: string }
  | { type: 'features'; rxOffloads: WireRxOffloads }
  | { type: 'mac'; mac: string }
  | { type: 'mtu'; mtu: number }
  /** The NIC's model threw in the worker and is dead (emulator/fault.ts); the switch side stops its port. */
  | { type: 'failed'; message: string };

/**
 * A frame as a message part, its buffer added to `transfer`. Always a copy:
 * the switch hands one Frame to every destination of a flood, and a device may
 * keep its own reference, so the sender's bytes must never be detached.
 */
export function toWire(frame: Frame, transfer: ArrayBuffer[]): WireFrame {
  const own = frame.data.slice();
  transfer.push(own.buffer);
  const wire: WireFrame = { data: own };
  if (frame.csum) wire.csum = { ...frame.csum };
  if (frame.gso) wire.gso = { ...frame.gso };
  if (frame.csumVerified) wire.csumVerified = true;
  return wire;
}

export function fromWire(wire: WireFrame): Frame {
  const frame: Frame = { data: wire.data };
  if (wire.csum) frame.csum = wire.csum;
  if (wire.gso) frame.gso = wire.gso;
  if (wire.csumVerified) frame.csumVerified = true;
  return frame;
}

export function wireOffloads(offloads: RxOffloads): WireRxOffloads {
  return { csum: offloads.csum, gso: [...offloads.gso], maxFrameSize: offloads.maxFrameSize };
}

export function wireDriverEvent(event: NicDriverEvent): WireDriverEvent {
  switch (event.type) {
    case 'mac':
      return { type: 'mac', mac: formatMac(event.mac) };
    case 'features':
      return { type: 'features', rxOffloads: wireOffloads(event.rxOffloads) };
    case 'failed':
      return { type: 'failed', message: `${event.error.name}: ${event.error.message}` };
    default:
      return event;
  }
}
