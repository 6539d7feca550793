// The e1000's saved state: JSON only, stored beside v86's own state in a VM
// snapshot. Registers are kept sparse (most of the 32 Ki words are zero).
import type { NicCounters } from '../../net/nic.ts';
import type { EepromState } from './eeprom.ts';
import type { InterruptState } from './interrupts.ts';
import type { RxState } from './rx.ts';
import type { TxState } from './tx.ts';

export const STATE_VERSION = 1;

export interface E1000State {
  version: typeof STATE_VERSION;
  model: 'e1000';
  mac: string;
  /** [word index, value] for every non-zero register word. */
  registers: [number, number][];
  ioAddress: number;
  linkUp: boolean;
  driverReady: boolean;
  eeprom: EepromState;
  phy: number[];
  interrupts: InterruptState;
  /** Delayed causes that were pending (raised at once on restore). */
  delayedCauses: number;
  tx: TxState;
  rx: RxState;
  counters: NicCounters;
}

export function packRegisters(regs: Uint32Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < regs.length; i++) if (regs[i] !== 0) out.push([i, regs[i]!]);
  return out;
}

export function unpackRegisters(pairs: [number, number][], into: Uint32Array): void {
  into.fill(0);
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new Error('e1000 state: malformed register entry');
    const [index, value] = pair;
    if (!Number.isInteger(index) || index < 0 || index >= into.length) throw new Error(`e1000 state: register index ${index} out of range`);
    into[index] = value >>> 0;
  }
}

/** Checks the shape enough that a restore cannot half-apply a foreign object. */
export function assertE1000State(state: unknown): asserts state is E1000State {
  const s = state as Partial<E1000State> | null;
  if (!s || typeof s !== 'object') throw new Error('e1000 state: not an object');
  if (s.model !== 'e1000' || s.version !== STATE_VERSION) throw new Error(`e1000 state: expected model e1000 version ${STATE_VERSION}`);
  if (!Array.isArray(s.registers) || !s.eeprom || !Array.isArray(s.phy) || !s.interrupts || !s.tx || !s.rx || typeof s.mac !== 'string') {
    throw new Error('e1000 state: missing fields');
  }
}
