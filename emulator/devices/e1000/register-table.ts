// The e1000's BAR0 register file as one table, one entry per 32-bit word (as
// QEMU's mac_reg_init, macreg_readops and macreg_writeops together): what the
// word resets to, which bits a plain write keeps, whether a read clears it,
// whether a partial write merges, and the handler of a register with side
// effects. MMIO dispatch, reset, partial writes and the saved state all read
// this table, so adding or changing a register is one entry. Array registers
// (MTA, RA, VFTA) and the statistics block are generated entries.
import type { Eeprom } from './eeprom.ts';
import type { DelayedCause, Interrupts } from './interrupts.ts';
import { PHY_ADDRESS, type Phy } from './phy.ts';
import {
  CTRL_PHY_RST,
  CTRL_RST,
  ICR_MDAC,
  MDIC_ERROR,
  MDIC_INT_EN,
  MDIC_OP_READ,
  MDIC_OP_WRITE,
  MDIC_PHY_SHIFT,
  MDIC_READY,
  MDIC_REG_SHIFT,
  MMIO_SIZE,
  MTA_ENTRIES,
  RA_ENTRIES,
  RCTL_EN,
  RDTR_FPD,
  REG,
  RXCSUM_IPOFL,
  RXCSUM_TUOFL,
  STAT,
  STATS_END,
  STATS_START,
  STATUS_LU,
  STATUS_RESET,
  TCTL_EN,
  VFTA_ENTRIES,
} from './registers.ts';
import type { RxEngine } from './rx.ts';
import type { TxEngine } from './tx.ts';

/** What register handlers reach in the device (the device builds one, once). */
export interface RegisterHost {
  /** The stored words, indexed by offset / 4. */
  readonly regs: Uint32Array;
  readonly interrupts: Interrupts;
  readonly rxDelay: DelayedCause;
  readonly eeprom: Eeprom;
  readonly phy: Phy;
  readonly tx: Pick<TxEngine, 'halted' | 'kick'>;
  readonly rx: Pick<RxEngine, 'halted' | 'drain'>;
  readonly linkUp: boolean;
  /** CTRL.RST: the whole device back to its reset state. */
  reset(): void;
  /** RA[0] was written: the driver may have set a new MAC. */
  macChanged(): void;
  /** RCTL was written: the driver may have started or stopped the receiver. */
  receiverChanged(): void;
}

/** `clearing` is false for accesses that do not cover byte 0 and for the read half of a partial write. */
export type ReadHandler = (host: RegisterHost, clearing: boolean) => number;
/** Gets the whole 32-bit value (partial writes already merged) and stores whatever the register keeps. */
export type WriteHandler = (host: RegisterHost, value: number, register: Register) => void;

export interface Register {
  /** As Intel's manual names it; array words as 'MTA[3]', statistics without a name as 'STAT[0x4004]'. */
  readonly name: string;
  readonly offset: number;
  /** offset / 4: the word in RegisterHost.regs. */
  readonly index: number;
  /**
   * The value lives in `regs` (reset, saved and restored with it). False for
   * registers another model owns (EECD: the EEPROM; ICR, IMS, ITR: the
   * interrupt logic) or computes (STATUS); those have both handlers.
   */
  readonly stored: boolean;
  readonly reset: number;
  /** Bits a plain write keeps (0: writes are ignored). Handlers that store use it too. */
  readonly keep: number;
  /** Read-to-clear (statistics), on an access covering byte 0. */
  readonly clearOnRead: boolean;
  /** The high half of a 64-bit statistic: reading it clears this low word too (-1: none), as QEMU does. */
  readonly clearsAlso: number;
  /** Write-1-to-act: a partial write is not merged with the current value (which may be another register's view). */
  readonly command: boolean;
  readonly read: ReadHandler | null;
  readonly write: WriteHandler | null;
}

const ALL = 0xffffffff;

type Spec = Partial<Omit<Register, 'name' | 'offset' | 'index'>>;

function register(name: string, offset: number, spec: Spec): Register {
  return { name, offset, index: offset >>> 2, stored: true, reset: 0, keep: 0, clearOnRead: false, clearsAlso: -1, command: false, read: null, write: null, ...spec };
}

function named(name: keyof typeof REG, spec: Spec): Register {
  return register(name, REG[name], spec);
}

// ---- handlers (side effects of the registers that have them) ---------------------------

function store(host: RegisterHost, register: Register, value: number): void {
  host.regs[register.index] = (value & register.keep) >>> 0;
}

const readsZero: ReadHandler = () => 0;
const ignoresWrites: WriteHandler = () => {};

const readStatus: ReadHandler = (host) => (host.linkUp ? STATUS_RESET : STATUS_RESET & ~STATUS_LU) >>> 0;

const writeCtrl: WriteHandler = (host, value, register) => {
  if (value & CTRL_RST) {
    host.reset();
    return;
  }
  if (value & CTRL_PHY_RST && !(host.regs[register.index]! & CTRL_PHY_RST)) host.phy.reset();
  store(host, register, value);
};

/** MDIC: one PHY register access, done at once (READY set; ERROR for any PHY address but ours). */
const writeMdic: WriteHandler = (host, value, register) => {
  const phyAddress = (value >>> MDIC_PHY_SHIFT) & 0x1f;
  const phyReg = (value >>> MDIC_REG_SHIFT) & 0x1f;
  let result = value & ~(MDIC_READY | MDIC_ERROR);
  if (phyAddress !== PHY_ADDRESS) {
    result |= MDIC_ERROR;
  } else if (value & MDIC_OP_READ) {
    result = (result & ~0xffff) | host.phy.read(phyReg);
  } else if (value & MDIC_OP_WRITE) {
    host.phy.write(phyReg, value & 0xffff);
  }
  host.regs[register.index] = (result | MDIC_READY) >>> 0;
  if (value & MDIC_INT_EN) host.interrupts.raise(ICR_MDAC);
};

const writeRctl: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.receiverChanged();
  if (value & RCTL_EN) host.rx.drain();
};

const writeTctl: WriteHandler = (host, value, register) => {
  store(host, register, value);
  if (value & TCTL_EN) host.tx.kick();
};

/** Base, length and head of a ring: reprogramming it lifts a halt after a guest error. */
const writeTxRing: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.tx.halted = false;
};

const writeRxRing: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.rx.halted = false;
};

const writeTdt: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.tx.kick();
};

const writeRdt: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.rx.drain();
};

/** RDTR.FPD (flush partial descriptor block) raises a pending delayed RXT0 now. */
const writeRdtr: WriteHandler = (host, value, register) => {
  store(host, register, value);
  if (value & RDTR_FPD && host.rxDelay.pending) host.rxDelay.fire();
};

const writeMacAddress: WriteHandler = (host, value, register) => {
  store(host, register, value);
  host.macChanged();
};

// ---- the table ---------------------------------------------------------------------------

/** Reset values from QEMU's mac_reg_init and the 8254x manual; keep-masks as Linux's register self-test checks them. */
const SINGLE_REGISTERS: readonly Register[] = [
  named('CTRL', { reset: 0x00140240, keep: (ALL & ~CTRL_RST) >>> 0, write: writeCtrl }),
  named('STATUS', { stored: false, read: readStatus, write: ignoresWrites }),
  named('EECD', { stored: false, read: (host) => host.eeprom.readEecd(), write: (host, value) => host.eeprom.writeEecd(value) }),
  named('EERD', {
    command: true,
    write: (host, value, register) => {
      host.regs[register.index] = host.eeprom.eerd(value);
    },
  }),
  named('CTRL_EXT', { keep: ALL }),
  named('MDIC', { command: true, write: writeMdic }),
  named('FCAL', { keep: ALL }),
  named('FCAH', { keep: 0x0000ffff }),
  named('FCT', { keep: 0x0000ffff }),
  named('VET', { reset: 0x8100, keep: 0x0000ffff }),
  named('ICR', {
    stored: false,
    command: true,
    read: (host, clearing) => (clearing ? host.interrupts.readAndClear() : host.interrupts.icr),
    write: (host, value) => host.interrupts.clear(value),
  }),
  // The throttle interval belongs to the interrupt logic that applies it (and is saved with it).
  named('ITR', {
    stored: false,
    read: (host) => host.interrupts.itr,
    write: (host, value) => {
      host.interrupts.itr = value & 0xffff;
    },
  }),
  named('ICS', { stored: false, command: true, read: readsZero, write: (host, value) => host.interrupts.raise(value) }),
  named('IMS', { stored: false, command: true, read: (host) => host.interrupts.ims, write: (host, value) => host.interrupts.setMask(value) }),
  named('IMC', { stored: false, command: true, read: readsZero, write: (host, value) => host.interrupts.clearMask(value) }),
  named('RCTL', { keep: ALL, write: writeRctl }),
  named('FCTTV', { keep: 0x0000ffff }),
  named('TXCW', { keep: 0xc000ffff }),
  named('RXCW', { keep: 0 }),
  named('TCTL', { keep: ALL, write: writeTctl }),
  named('TIPG', { reset: 0x0060200a, keep: 0x3fffffff }),
  named('LEDCTL', { reset: 0x07068302, keep: ALL }),
  named('PBA', { reset: 0x00100030, keep: 0x0000ffff }),
  named('FCRTL', { keep: 0x8000fff8 }),
  named('FCRTH', { keep: 0x0000fff8 }),
  named('RDBAL', { keep: 0xfffffff0, write: writeRxRing }),
  named('RDBAH', { keep: ALL, write: writeRxRing }),
  named('RDLEN', { keep: 0x000fff80, write: writeRxRing }),
  named('RDH', { keep: 0x0000ffff, write: writeRxRing }),
  named('RDT', { keep: 0x0000ffff, write: writeRdt }),
  named('RDTR', { keep: 0x0000ffff, write: writeRdtr }),
  named('RXDCTL', { reset: 0x00010000, keep: ALL }),
  named('RADV', { keep: 0x0000ffff }),
  named('RSRPD', { keep: 0x00000fff }),
  named('TXDMAC', { keep: 0x00000001 }),
  named('TDBAL', { keep: 0xfffffff0, write: writeTxRing }),
  named('TDBAH', { keep: ALL, write: writeTxRing }),
  named('TDLEN', { keep: 0x000fff80, write: writeTxRing }),
  named('TDH', { keep: 0x0000ffff, write: writeTxRing }),
  named('TDT', { keep: 0x0000ffff, write: writeTdt }),
  named('TIDV', { keep: 0x0000ffff }),
  named('TXDCTL', { reset: 0x00010000, keep: ALL }),
  named('TADV', { keep: 0x0000ffff }),
  named('TSPMT', { keep: ALL }),
  named('RXCSUM', { reset: RXCSUM_IPOFL | RXCSUM_TUOFL, keep: 0x000007ff }),
  named('WUC', { keep: 0x0000000f }),
  named('WUFC', { keep: 0x000000ff }),
  named('MANC', { reset: 0x00060000, keep: ALL }),
];

/** Every word of the statistics block: read-only, read-to-clear, saturating (the device adds to them). */
function statisticsRegisters(): Register[] {
  const names = new Map<number, string>(Object.entries(STAT).map(([name, offset]) => [offset, name]));
  const highHalves = new Map<number, number>([
    [STAT.GORCH, STAT.GORCL],
    [STAT.GOTCH, STAT.GOTCL],
    [STAT.TORH, STAT.TORL],
    [STAT.TOTH, STAT.TOTL],
  ]);
  const out: Register[] = [];
  for (let offset = STATS_START; offset < STATS_END; offset += 4) {
    const low = highHalves.get(offset);
    const name = names.get(offset) ?? `STAT[0x${offset.toString(16)}]`;
    out.push(register(name, offset, { clearOnRead: true, clearsAlso: low === undefined ? -1 : low >>> 2 }));
  }
  return out;
}

function arrayRegisters(name: string, base: number, count: number): Register[] {
  return Array.from({ length: count }, (_, i) => register(`${name}[${i}]`, base + 4 * i, { keep: ALL }));
}

/** RA: low/high pairs; RA[0] is the MAC the device answers to, so writing it may change the NIC's MAC. */
function receiveAddressRegisters(): Register[] {
  const out: Register[] = [];
  for (let i = 0; i < RA_ENTRIES; i++) {
    const write = i === 0 ? writeMacAddress : null;
    out.push(register(`RAL[${i}]`, REG.RA + 8 * i, { keep: ALL, write }));
    out.push(register(`RAH[${i}]`, REG.RA + 8 * i + 4, { keep: 0x8003ffff, write }));
  }
  return out;
}

/** The whole register file, in offset order. */
export const REGISTERS: readonly Register[] = [
  ...SINGLE_REGISTERS,
  ...statisticsRegisters(),
  ...arrayRegisters('MTA', REG.MTA, MTA_ENTRIES),
  ...receiveAddressRegisters(),
  ...arrayRegisters('VFTA', REG.VFTA, VFTA_ENTRIES),
].sort((a, b) => a.offset - b.offset);

/** Registers whose value lives in the word array (reset and saved from there). */
export const STORED_REGISTERS: readonly Register[] = REGISTERS.filter((r) => r.stored);

/** offset / 4 -> register, or null (unknown offsets read 0 and ignore writes): one array index per MMIO access. */
export const REGISTER_AT: readonly (Register | null)[] = (() => {
  const at = new Array<Register | null>(MMIO_SIZE / 4).fill(null);
  for (const r of REGISTERS) {
    if (at[r.index]) throw new Error(`e1000 register table: ${r.name} and ${at[r.index]!.name} share offset 0x${r.offset.toString(16)}`);
    if (!r.stored && !(r.read && r.write)) throw new Error(`e1000 register table: ${r.name} is not stored, so it needs both handlers`);
    at[r.index] = r;
  }
  return at;
})();

// ---- what the device calls ----------------------------------------------------------------

export function readRegister(host: RegisterHost, register: Register, clearing: boolean): number {
  if (register.read) return register.read(host, clearing);
  const regs = host.regs;
  const value = regs[register.index]!;
  if (clearing && register.clearOnRead) {
    regs[register.index] = 0;
    if (register.clearsAlso >= 0) regs[register.clearsAlso] = 0;
  }
  return value;
}

export function writeRegister(host: RegisterHost, register: Register, value: number): void {
  value >>>= 0;
  if (register.write) register.write(host, value, register);
  else store(host, register, value);
}

/** The register file as after power-on or CTRL.RST. */
export function resetRegisters(regs: Uint32Array): void {
  regs.fill(0);
  for (const r of STORED_REGISTERS) if (r.reset !== 0) regs[r.index] = r.reset;
}
