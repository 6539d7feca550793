// Switch ports: types, states (created -> teardown -> deleted), properties and
// the reference count that PORT_DELETE waits for.
import type { PortCounters } from './counters.ts';
import { newPortCounters } from './counters.ts';
import type { Nic } from './nic.ts';
import type { VlanProperty } from './extensions/vlan.ts';
import { VlanPolicy } from './extensions/vlan.ts';
import { SwitchError } from './errors.ts';

export type PortType = 'external' | 'internal' | 'synthetic' | 'emulated' | 'generic';
export const PORT_TYPES: readonly PortType[] = ['external', 'internal', 'synthetic', 'emulated', 'generic'];

export type PortState = 'created' | 'teardown' | 'deleted';

/** MAC spoofing guard (Hyper-V's port security setting): the switch drops frames whose source MAC is not the NIC's. */
export interface SecurityProperty {
  type: 'security';
  allowMacSpoofing: boolean;
}

/** Anything an extension wants to attach to a port (policy it enforces itself). */
export interface CustomProperty {
  type: 'custom';
  name: string;
  value: unknown;
}

export type PortProperty = VlanProperty | SecurityProperty | CustomProperty;

/** The key a property is stored under: one VLAN, one security, and one custom property per name. */
export function propertyKey(property: PortProperty): string {
  return property.type === 'custom' ? `custom:${property.name}` : property.type;
}

/** What OIDs and the PORT_ARRAY query carry about a port (a snapshot). */
export interface PortParameters {
  readonly id: number;
  readonly type: PortType;
  readonly name: string;
  readonly state: PortState;
  readonly properties: readonly PortProperty[];
}

/** What extensions and users can read of a live port. */
export interface PortInfo {
  readonly id: number;
  readonly type: PortType;
  readonly name: string;
  readonly state: PortState;
  readonly vlan: VlanPolicy;
}

export class Port implements PortInfo {
  state: PortState = 'created';
  readonly nics = new Map<number, Nic>();
  readonly properties = new Map<string, PortProperty>();
  readonly counters: PortCounters = newPortCounters();
  /** From the VLAN property (untagged access when there is none); read by the data path per frame. */
  vlan: VlanPolicy = VlanPolicy.DEFAULT;
  /** From the security property. */
  allowMacSpoofing = true;
  /** Extension references (ctx.referencePort) and OIDs queued or running on this port. */
  references = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly type: PortType,
    /** Changed by PORT_UPDATED. */
    public name: string,
  ) {}

  parameters(): PortParameters {
    return { id: this.id, type: this.type, name: this.name, state: this.state, properties: [...this.properties.values()] };
  }

  reference(): void {
    this.references++;
  }

  release(): void {
    if (this.references <= 0) throw new SwitchError('port-state', `port ${this.id}: reference released twice`);
    if (--this.references === 0) this.wakeDrainWaiters();
  }

  /** Resolves once no reference is held (at once if none is). */
  drained(): Promise<void> {
    if (this.references === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
