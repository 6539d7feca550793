// A guest NIC on a switch port: the seed's VM start and stop lifecycle driven
// by what the guest's driver does. Knows the GuestNic interface, never v86.
//
//   start:  PORT_CREATE -> NIC_CREATE -> (driver ready) NIC_CONNECT
//   inside: driver stop/start, MAC, MTU -> NIC_UPDATED on the same port (a MAC
//           only while the port allows MAC spoofing: Switch.guestMacChange)
//   stop:   NIC_DISCONNECT -> drain -> NIC_DELETE -> PORT_TEARDOWN -> PORT_DELETE
//   fault:  the NIC's model threw ('failed' driver event, emulator/fault.ts):
//           the same stop lifecycle at once; the VM itself keeps running
import type { Frame, FrameSink } from '../emulator/net/frame.ts';
import { formatMac } from '../emulator/net/frame.ts';
import type { GuestNic, NicAttachInfo, NicAttacher, NicAttachment, NicDriverEvent } from '../emulator/net/nic.ts';
import { OffloadError, adaptForReceiver, takesGsoWhole } from '../emulator/net/offload.ts';
import type { PortProperty, PortType } from './port.ts';
import type { NicType } from './nic.ts';
import { DELIVERY_DROP_REASONS, type DeliveryDropReason } from './drop-reasons.ts';
import { bump } from './counters.ts';
import type { Switch } from './switch.ts';
import { OidError } from './oid.ts';
import { SegmentBudget } from './segment-budget.ts';

/** Why a VM's NIC could not join the switch; names the extension that vetoed. */
export class NicAttachError extends Error {
  constructor(
    message: string,
    readonly vetoedBy: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NicAttachError';
  }
}

export function portTypeFor(nic: GuestNic): PortType & NicType {
  // The seed's two kinds of VM adapter: the Intel one is emulated, virtio is synthetic (NetVSC's part).
  return nic.model === 'e1000' ? 'emulated' : 'synthetic';
}

export class SwitchPortAttachment implements NicAttachment {
  /** Frames the guest could not be given because their offloads were malformed, by reason. */
  readonly deliveryDrops: Partial<Record<DeliveryDropReason, number>> = {};
  /** MAC changes by the guest's driver that port security refused (Switch.guestMacChange). */
  refusedGuestMacChanges = 0;
  private outbound: Frame[] = [];
  private flushScheduled = false;
  private connected = false;
  private detached = false;
  /** The stop lifecycle once begun: a second detach() waits for the same one. */
  private detaching: Promise<void> | undefined;
  /** Set once NIC_CREATE has succeeded (a fault before then is acted on right after). */
  private joined = false;
  private nicFailure: Error | undefined;
  private readonly failureListeners = new Set<(error: Error) => void>();
  /** OIDs for this NIC run one after another, in the order the driver caused them. */
  private oidChain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  /** What segmenting GSO frames for this guest may cost (segment-budget.ts). */
  private readonly segmentBudget: SegmentBudget;

  private constructor(
    private readonly sw: Switch,
    private readonly nic: GuestNic,
    readonly portId: number,
    readonly info: NicAttachInfo,
  ) {
    this.unsubscribe = nic.onDriverEvent((event) => this.onDriverEvent(event));
    this.segmentBudget = new SegmentBudget(sw.now);
  }

  get label(): string {
    return `port ${this.portId}`;
  }

  /** Why the NIC failed, if it did (its port then ran the stop lifecycle by itself). */
  get failure(): Error | undefined {
    return this.nicFailure;
  }

  /** Called when the NIC fails, once its port has left the switch (or failed to). Returns the unsubscribe function. */
  onFailure(listener: (error: Error) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** `options.properties` (e.g. the port's VLAN) are added right after PORT_CREATE; a veto leaves no port. */
  static async attach(sw: Switch, nic: GuestNic, info: NicAttachInfo, options: { properties?: PortProperty[] } = {}): Promise<SwitchPortAttachment> {
    const name = `${info.vmName}/eth${info.index}`;
    const type = portTypeFor(nic);
    let portId: number;
    try {
      portId = (await sw.createPort({ type, name, ...(options.properties?.length ? { properties: options.properties } : {}) })).id;
    } catch (error) {
      throw attachError(name, nic, error);
    }
    const sink: FrameSink = { deliver: (frames) => attachment.deliverToGuest(frames) };
    const attachment = new SwitchPortAttachment(sw, nic, portId, info);
    try {
      await sw.createNic(portId, {
        index: 0,
        type,
        mac: nic.mac.slice(),
        friendlyName: `${name} (${nic.model})`,
        sink,
      });
    } catch (error) {
      attachment.unsubscribe();
      // Leave no port behind: PORT_TEARDOWN and PORT_DELETE for the port that was created.
      await sw.stopPort(portId).catch(() => undefined);
      throw attachError(name, nic, error);
    }
    attachment.joined = true;
    if (attachment.nicFailure) {
      // The NIC failed while joining: it leaves again at once.
      attachment.stopFailed();
      return attachment;
    }
    nic.setTransmitSink({ deliver: (frames) => attachment.fromGuest(frames) });
    // A VM restored from a template snapshot already has its driver up.
    if (nic.driverReady) attachment.enqueue(() => attachment.connect());
    return attachment;
  }

  /** Resolves when the OIDs queued so far (e.g. the NIC_CONNECT of a NIC whose driver was ready at attach) have completed. */
  settled(): Promise<void> {
    return this.oidChain;
  }

  /** Guest transmit runs inside the device's register write: batch it and hand it to the switch afterwards. */
  private fromGuest(frames: readonly Frame[]): void {
    if (this.detached) return;
    for (const frame of frames) this.outbound.push(frame);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      const batch = this.outbound;
      this.outbound = [];
      if (this.detached || !batch.length) return;
      try {
        this.sw.ingress(this.portId, 0, batch);
      } catch (error) {
        // The data path guards extensions itself; this is the net under a bug of the switch's own, in a microtask.
        this.sw.events.emit('error', { time: this.sw.now(), extension: 'switch', phase: 'ingress', message: error instanceof Error ? error.message : String(error) });
      }
    });
  }

  private deliverToGuest(frames: readonly Frame[]): void {
    const ready: Frame[] = [];
    const rx = this.nic.rxOffloads;
    for (const frame of frames) {
      if (!frame.csum && !frame.gso && frame.data.length <= rx.maxFrameSize) {
        ready.push(frame);
        continue;
      }
      if (frame.gso && !takesGsoWhole(frame, rx) && !this.segmentBudget.takeFor(frame)) {
        bump(this.deliveryDrops, DELIVERY_DROP_REASONS.segmentBudget);
        continue;
      }
      try {
        for (const piece of adaptForReceiver(frame, rx)) ready.push(piece);
      } catch (error) {
        bump(this.deliveryDrops, error instanceof OffloadError ? error.reason : DELIVERY_DROP_REASONS.offloadFailed);
      }
    }
    if (ready.length) this.nic.receive(ready);
  }

  private enqueue(step: () => Promise<void>): void {
    this.oidChain = this.oidChain.then(step).catch((error: unknown) => {
      // OIDs that cannot be vetoed should not fail; if one does, the switch has already reported it as an event.
      void error;
    });
  }

  private async connect(): Promise<void> {
    if (this.detached || this.connected) return;
    await this.sw.connectNic(this.portId, 0);
    this.connected = true;
  }

  private onDriverEvent(event: NicDriverEvent): void {
    if (this.detached) return;
    switch (event.type) {
      case 'ready':
        // The first time the guest's stack binds: NIC_CONNECT. Later (driver reloaded): a NIC_UPDATED on the same port.
        this.enqueue(async () => {
          if (!this.connected) await this.connect();
          else await this.sw.updateNic(this.portId, 0, {});
        });
        break;
      case 'stopped':
        this.enqueue(async () => {
          if (this.connected) await this.sw.updateNic(this.portId, 0, {});
        });
        break;
      case 'mac': {
        // Port security decides: adopted when MAC spoofing is allowed, else refused and counted.
        const mac = event.mac.slice();
        this.enqueue(async () => {
          if (!(await this.sw.guestMacChange(this.portId, 0, mac))) this.refusedGuestMacChanges++;
        });
        break;
      }
      case 'mtu':
        this.enqueue(() => this.sw.updateNic(this.portId, 0, { mtu: event.mtu }));
        break;
      case 'features':
        break;
      case 'failed':
        // Decision (issue 12): a failed NIC is dead; its port runs the seed's stop lifecycle.
        this.nicFailure ??= event.error;
        if (this.joined) this.stopFailed();
        break;
    }
  }

  private stopFailed(): void {
    const error = this.nicFailure!;
    this.detach().then(
      () => this.notifyFailure(error),
      // A stop that fails is reported to whoever detaches next (the VM's stop) and in the switch's events.
      () => this.notifyFailure(error),
    );
  }

  private notifyFailure(error: Error): void {
    for (const listener of [...this.failureListeners]) {
      try {
        listener(error);
      } catch (listenerError) {
        console.error(`vmswitch: ${this.label}: a failure listener threw:`, listenerError);
      }
    }
  }

  /**
   * The stop lifecycle, after any OID the driver caused has completed. Calls
   * that overlap (a VM stop while the NIC's fault is stopping the port) wait
   * for the same run.
   */
  detach(): Promise<void> {
    this.detaching ??= this.runDetach();
    return this.detaching;
  }

  private async runDetach(): Promise<void> {
    await this.oidChain;
    this.detached = true;
    this.unsubscribe();
    this.nic.setTransmitSink(null);
    this.outbound = [];
    await this.sw.stopPort(this.portId);
  }
}

function attachError(name: string, nic: GuestNic, error: unknown): NicAttachError {
  const what = `${name} (${nic.model}, ${formatMac(nic.mac)})`;
  if (error instanceof OidError) {
    const by = error.vetoedBy ? ` by extension '${error.vetoedBy}'` : '';
    return new NicAttachError(`${what} could not join the switch: ${error.oid} ${error.status}${by}${error.detail ? ` (${error.detail})` : ''}`, error.vetoedBy, { cause: error });
  }
  return new NicAttachError(`${what} could not join the switch: ${(error as Error).message}`, undefined, { cause: error });
}

/**
 * The switch as something VM NICs plug into at VM start (see NicAttacher in
 * emulator/net/nic.ts). A Switch is one itself (`sw.attachNic`); this wrapper
 * adds port properties, e.g. `switchAttacher(sw, { properties: [vlan] })`.
 */
export function switchAttacher(sw: Switch, options: { properties?: PortProperty[] } = {}): NicAttacher {
  return {
    attachNic: async (nic, info) => {
      const attachment = await SwitchPortAttachment.attach(sw, nic, info, options);
      await attachment.settled();
      return attachment;
    },
  };
}
