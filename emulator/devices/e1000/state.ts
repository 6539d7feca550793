// The e1000's saved state: JSON only, stored beside v86's own state in a VM
// snapshot. Registers are kept sparse: [word index, value] for the stored
// registers of the register table that are not zero. The index is the BAR0
// offset / 4, fixed by the hardware, so it names a register as surely as its
// name would, and states saved by earlier builds keep loading.
// Restoring checks and decodes everything before the device changes anything.
import { parseMac } from '../../net/frame.ts';
import type { NicCounters } from '../../net/nic.ts';
import { EncodingError, decodeBase64 } from '../../encoding.ts';
import { DeviceStateError } from '../state-error.ts';
import type { EepromState } from './eeprom.ts';
import type { InterruptState } from './interrupts.ts';
import { REGISTER_AT, STORED_REGISTERS } from './register-table.ts';
import { MMIO_SIZE } from './registers.ts';
import type { RxState } from './rx.ts';
import type { TxState } from './tx.ts';

export const STATE_VERSION = 1;

export interface E1000State {
  version: typeof STATE_VERSION;
  model: 'e1000';
  mac: string;
  /** [word index, value] for every non-zero stored register. */
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

export function stateError(message: string): DeviceStateError {
  return new DeviceStateError('e1000', message);
}

export function packRegisters(regs: Uint32Array): [number, number][] {
  const out: [number, number][] = [];
  for (const register of STORED_REGISTERS) {
    const value = regs[register.index]!;
    if (value !== 0) out.push([register.index, value]);
  }
  return out;
}

/**
 * The register words of a saved state, as a fresh array. Words of registers
 * whose value lives elsewhere (STATUS, and ITR in states of earlier builds)
 * are skipped: the interrupt state and the link carry them.
 */
export function unpackRegisters(pairs: unknown): Uint32Array {
  if (!Array.isArray(pairs)) throw stateError('registers is not a list');
  const regs = new Uint32Array(MMIO_SIZE / 4);
  for (const pair of pairs as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) throw stateError('malformed register entry');
    const [index, value] = pair as [unknown, unknown];
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= regs.length) throw stateError(`register index ${index} out of range`);
    const register = REGISTER_AT[index as number];
    if (!register) throw stateError(`word ${index} (offset 0x${((index as number) * 4).toString(16)}) is not a register`);
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) throw stateError(`${register.name}: ${value} is not a 32-bit value`);
    if (register.stored) regs[register.index] = value as number;
  }
  return regs;
}

export function unpackMac(text: string): Uint8Array {
  try {
    return parseMac(text);
  } catch {
    throw stateError(`not a MAC address: ${JSON.stringify(text)}`);
  }
}

/** Saved bytes (pending frames) from their base64 text. */
export function decodeSavedBytes(text: unknown, where: string): Uint8Array {
  if (typeof text !== 'string') throw stateError(`${where} has no data`);
  try {
    return decodeBase64(text);
  } catch (error) {
    if (!(error instanceof EncodingError)) throw error;
    throw stateError(`${where}: ${error.message}`);
  }
}

/**
 * Saved counters, checked: every count a finite number (by-reason records of
 * them), so a damaged file cannot leave a counter that throws or turns NaN on
 * the next bump. Keys are taken as saved (states from before the kebab-case
 * reasons keep their old keys).
 */
export function decodeCounters(value: unknown): NicCounters {
  if (!isObject(value)) throw stateError('counters is not an object');
  const count = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw stateError(`counters.${where} is not a count`);
    return v;
  };
  const byReason = (v: unknown, where: string): Record<string, number> => {
    if (!isObject(v)) throw stateError(`counters.${where} is not an object`);
    const out: Record<string, number> = {};
    for (const [reason, n] of Object.entries(v)) out[reason] = count(n, `${where}.${reason}`);
    return out;
  };
  return {
    txFrames: count(value.txFrames, 'txFrames'),
    txBytes: count(value.txBytes, 'txBytes'),
    rxFrames: count(value.rxFrames, 'rxFrames'),
    rxBytes: count(value.rxBytes, 'rxBytes'),
    rxDropped: byReason(value.rxDropped, 'rxDropped'),
    guestErrors: byReason(value.guestErrors, 'guestErrors'),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape, so that a restore cannot half-apply a foreign or damaged object. */
export function assertE1000State(state: unknown): asserts state is E1000State {
  if (!isObject(state)) throw stateError('not an object');
  if (state.model !== 'e1000' || state.version !== STATE_VERSION) throw stateError(`expected model e1000 version ${STATE_VERSION}`);
  const s = state as Partial<Record<keyof E1000State, unknown>>;
  if (!Array.isArray(s.registers) || !isObject(s.eeprom) || !Array.isArray(s.phy) || !isObject(s.interrupts) || !isObject(s.tx) || !isObject(s.rx) || typeof s.mac !== 'string') {
    throw stateError('missing fields');
  }
  if (!Array.isArray(s.eeprom.words)) throw stateError('eeprom.words is not a list');
  if (s.counters !== undefined && !isObject(s.counters)) throw stateError('counters is not an object');
}
