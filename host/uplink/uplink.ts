// What sits behind a switch's external port: a transport that carries plain
// Ethernet frames to and from somewhere else (VXLAN over UDP in
// vxlan-socket.ts; a WebSocket to a shared switch can implement the same).
// The port side (external-port.ts) does the switch's part: the OID
// lifecycle, segmenting GSO frames to the uplink's MTU, refusing frames that
// spoof a local NIC. The transport does only framing, peers and its own drops.
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';

export interface Uplink {
  /** For port names and messages, e.g. "vxlan 42 127.0.0.1:4789". */
  readonly description: string;
  /** Largest L3 payload of a frame it carries (frames may add 14 bytes, 18 with a VLAN tag). */
  readonly mtu: number;
  /** Ready to carry frames (a socket bound, a connection open). */
  readonly isUp: boolean;
  /** Frames to the far side: plain (no offload pending), each within mtu plus link headers. Never throws. */
  send(frames: readonly Frame[]): void;
  /** Where frames from the far side go (null: nowhere; the uplink then drops them). */
  setReceiver(sink: FrameSink | null): void;
  /** Called with true when it comes up, false when it goes down; returns the unsubscribe function. */
  onStateChange(listener: (up: boolean) => void): () => void;
  /** The transport's drops by reason (host/drop-reasons.ts UPLINK_DROP_REASONS). */
  drops(): Record<string, number>;
  /** Goes down for good (the state listeners hear false). */
  close(): Promise<void>;
}

/** The state listeners an Uplink keeps for onStateChange, told of each change in subscription order. */
export class UplinkStateListeners {
  private readonly listeners = new Set<(up: boolean) => void>();

  add(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A copy is walked: a listener may unsubscribe itself. */
  emit(up: boolean): void {
    for (const listener of [...this.listeners]) listener(up);
  }
}
