// The 82540's 64-word Microwire EEPROM, read by bit-banging EECD (and, as a
// convenience, through EERD). The driver rejects the MAC unless the 16-bit sum
// of all 64 words is 0xBABA, which word 0x3F makes true.
import {
  EECD_CS,
  EECD_DI,
  EECD_DO,
  EECD_FWE_MASK,
  EECD_GNT,
  EECD_PRES,
  EECD_REQ,
  EECD_SK,
  EERD_DONE,
  EERD_START,
  PCI_DEVICE_82540EM,
  PCI_VENDOR_INTEL,
} from './registers.ts';

export const EEPROM_WORDS = 64;
export const EEPROM_CHECKSUM_WORD = 0x3f;
export const EEPROM_SUM = 0xbaba;
const READ_OPCODE = 0b110;
const OPCODE_BITS = 3;
const ADDRESS_BITS = 6;

/** The EEPROM image for a MAC: identity words as the 82540 ships them, checksum last. */
export function buildEepromImage(mac: Uint8Array): Uint16Array {
  const words = new Uint16Array(EEPROM_WORDS);
  for (let i = 0; i < 3; i++) words[i] = mac[2 * i]! | (mac[2 * i + 1]! << 8);
  words[0x04] = 0xffff; // ID LED settings: use the driver's defaults
  words[0x08] = 0x3000; // printed board assembly number
  words[0x09] = 0x1000;
  words[0x0a] = 0x6403; // initialization control 1
  words[0x0b] = PCI_DEVICE_82540EM; // subsystem id
  words[0x0c] = PCI_VENDOR_INTEL; // subsystem vendor
  words[0x0d] = PCI_DEVICE_82540EM;
  words[0x0e] = PCI_VENDOR_INTEL;
  words[0x0f] = 0x3040; // initialization control 2 (pause capabilities)
  let sum = 0;
  for (let i = 0; i < EEPROM_CHECKSUM_WORD; i++) sum += words[i]!;
  words[EEPROM_CHECKSUM_WORD] = (EEPROM_SUM - sum) & 0xffff;
  return words;
}

export interface EepromState {
  words: number[];
  eecd: number;
  bitsIn: number;
  valueIn: number;
  reading: boolean;
  bitOut: number;
}

export class Eeprom {
  words: Uint16Array;
  /** The EECD bits the driver drives (SK, CS, DI, FWE, REQ). */
  private eecd = 0;
  private bitsIn = 0;
  private valueIn = 0;
  private reading = false;
  /** Index of the data bit on DO, counting from bit 15 of word 0. */
  private bitOut = -1;

  constructor(mac: Uint8Array) {
    this.words = buildEepromImage(mac);
  }

  reset(): void {
    this.eecd = 0;
    this.restartCommand();
  }

  private restartCommand(): void {
    this.bitsIn = 0;
    this.valueIn = 0;
    this.reading = false;
    this.bitOut = -1;
  }

  readEecd(): number {
    let value = this.eecd | EECD_PRES;
    // The EEPROM is never busy with anything else: grant access as soon as it is requested.
    if (this.eecd & EECD_REQ) value |= EECD_GNT;
    if (this.reading && this.bitOut >= 0) {
      const word = this.words[(this.bitOut >> 4) % EEPROM_WORDS]!;
      if ((word >> (15 - (this.bitOut & 15))) & 1) value |= EECD_DO;
    }
    return value;
  }

  writeEecd(value: number): void {
    const old = this.eecd;
    this.eecd = value & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE_MASK | EECD_REQ);
    if (!(value & EECD_CS)) {
      // Deselecting ends any command (the driver's standby between words).
      this.restartCommand();
      return;
    }
    if ((old & EECD_SK) || !(value & EECD_SK)) return; // act on SK rising edges only
    if (this.reading) {
      this.bitOut++;
      return;
    }
    this.valueIn = ((this.valueIn << 1) | (value & EECD_DI ? 1 : 0)) & 0xffff;
    this.bitsIn++;
    if (this.bitsIn === OPCODE_BITS + ADDRESS_BITS) {
      if (this.valueIn >> ADDRESS_BITS === READ_OPCODE) {
        this.reading = true;
        // The next rising edge presents bit 15 of the addressed word.
        this.bitOut = (this.valueIn & (EEPROM_WORDS - 1)) * 16 - 1;
      } else {
        // Write/erase opcodes are not supported: the EEPROM is read-only here.
        this.restartCommand();
      }
    }
  }

  /** EERD: START with the word address in bits 15:8 gives DONE and the data in 31:16. */
  eerd(value: number): number {
    if (!(value & EERD_START)) return value & 0xff00;
    const address = (value >>> 8) & 0xff;
    const data = address < EEPROM_WORDS ? this.words[address]! : 0;
    return ((data << 16) | (address << 8) | EERD_DONE) >>> 0;
  }

  save(): EepromState {
    return { words: Array.from(this.words), eecd: this.eecd, bitsIn: this.bitsIn, valueIn: this.valueIn, reading: this.reading, bitOut: this.bitOut };
  }

  restore(state: EepromState): void {
    this.words = new Uint16Array(EEPROM_WORDS);
    this.words.set(state.words.slice(0, EEPROM_WORDS));
    this.eecd = state.eecd | 0;
    this.bitsIn = state.bitsIn | 0;
    this.valueIn = state.valueIn | 0;
    this.reading = !!state.reading;
    this.bitOut = state.bitOut | 0;
  }
}
