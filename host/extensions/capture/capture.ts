// The packet capture extension: records frames to pcapng, for the whole switch
// or for chosen ports, one pcapng interface per port. Ingress frames are
// recorded inbound on their source port's interface (before any filter acts),
// delivered copies outbound on their destination port's interface.
import type { BatchView, Extension, ExtensionContext } from '../../extension.ts';
import { PcapngWriter } from './pcapng.ts';

export interface CaptureOptions {
  name?: string;
  /** Only these ports (default: every port). */
  ports?: number[];
  /** Default 'both'. */
  direction?: 'ingress' | 'egress' | 'both';
  /** Where the bytes go (default: kept in memory, read with bytes()). */
  write?: (chunk: Uint8Array) => void;
  snapLength?: number;
  /** Start recording at once (default true). */
  enabled?: boolean;
}

export class PcapngCapture implements Extension {
  readonly name: string;
  readonly kind = 'capture' as const;
  /** Recording can be paused and resumed; a paused capture costs one check per batch. */
  enabled: boolean;
  readonly writer: PcapngWriter;
  private readonly ports: Set<number> | null;
  private readonly ingressOn: boolean;
  private readonly egressOn: boolean;
  private context: ExtensionContext | null = null;
  /** Port id -> pcapng interface id (one interface per port, described on first use). */
  private readonly interfaceOfPort = new Map<number, number>();
  packets = 0;

  constructor(options: CaptureOptions = {}) {
    this.name = options.name ?? 'capture';
    this.enabled = options.enabled ?? true;
    this.ports = options.ports ? new Set(options.ports) : null;
    const direction = options.direction ?? 'both';
    if (!['ingress', 'egress', 'both'].includes(direction)) throw new Error(`capture direction must be ingress, egress or both`);
    this.ingressOn = direction !== 'egress';
    this.egressOn = direction !== 'ingress';
    this.writer = new PcapngWriter({ application: 'vmswitch', snapLength: options.snapLength, write: options.write });
  }

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  detach(): void {
    this.context = null;
    this.writer.flush();
  }

  /** Hands buffered packets to `write` (call before reading a file it writes). */
  flush(): void {
    this.writer.flush();
  }

  /** The capture so far (when no `write` was given). */
  bytes(): Uint8Array {
    return this.writer.bytes();
  }

  ingress(batch: BatchView): void {
    if (!this.enabled || !this.ingressOn) return;
    for (let i = 0; i < batch.count; i++) {
      const portId = batch.sourcePortId(i);
      if (this.ports !== null && !this.ports.has(portId)) continue;
      this.writer.packet(this.interfaceFor(portId), batch.time, batch.frame(i).data, 'inbound');
      this.packets++;
    }
  }

  egress(batch: BatchView): void {
    if (!this.enabled || !this.egressOn) return;
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
        if (batch.excluded(d) !== null) continue;
        const portId = batch.destination(d).portId;
        if (this.ports !== null && !this.ports.has(portId)) continue;
        this.writer.packet(this.interfaceFor(portId), batch.time, batch.frame(i).data, 'outbound');
        this.packets++;
      }
    }
  }

  private interfaceFor(portId: number): number {
    const known = this.interfaceOfPort.get(portId);
    if (known !== undefined) return known;
    const id = this.describeInterface(portId);
    this.interfaceOfPort.set(portId, id);
    return id;
  }

  private describeInterface(portId: number): number {
    if (portId === 0) return this.writer.interfaceId('0', 'originated', 'frames originated by extensions (port 0)');
    const port = this.context?.port(portId);
    return this.writer.interfaceId(String(portId), `port${portId}`, port ? `${port.name} (${port.type})` : undefined);
  }
}
