// The Marvell M88E1011 PHY behind MDIC, as far as the Linux driver looks at
// it: identity, BMCR/BMSR with link and autonegotiation, loopback, and the
// M88-specific registers it writes (kept so they read back). Reset values as
// QEMU models them.

export const PHY_ADDRESS = 1;
export const PHY = {
  BMCR: 0x00,
  BMSR: 0x01,
  ID1: 0x02,
  ID2: 0x03,
  ANAR: 0x04,
  ANLPAR: 0x05,
  ANER: 0x06,
  CTRL1000: 0x09,
  STAT1000: 0x0a,
  M88_SPEC_CTRL: 0x10,
  M88_SPEC_STATUS: 0x11,
  M88_EXT_SPEC_CTRL: 0x14,
} as const;

export const BMCR_RESET = 0x8000;
export const BMCR_LOOPBACK = 0x4000;
export const BMCR_ANRESTART = 0x0200;
export const BMSR_LINK = 0x0004;
export const BMSR_ANEG_COMPLETE = 0x0020;
const BMSR_BASE = 0x7949; // capabilities, without link and autoneg-complete
const M88_STATUS_LINK_UP = 0xac00; // 1000 Mb/s, full duplex, resolved, link
const M88E1011_ID1 = 0x0141;
const M88E1011_ID2 = 0x0c20;

const RESET: readonly [number, number][] = [
  [PHY.BMCR, 0x1140],
  [PHY.ID1, M88E1011_ID1],
  [PHY.ID2, M88E1011_ID2],
  [PHY.ANAR, 0x0de1],
  [PHY.ANLPAR, 0x01e0],
  [PHY.ANER, 0x0001],
  [PHY.CTRL1000, 0x0e00],
  [PHY.STAT1000, 0x3c00],
  [PHY.M88_SPEC_CTRL, 0x0360],
  [PHY.M88_EXT_SPEC_CTRL, 0x0d60],
];
const READ_ONLY = new Set<number>([PHY.BMSR, PHY.ID1, PHY.ID2, PHY.ANLPAR, PHY.ANER, PHY.STAT1000, PHY.M88_SPEC_STATUS]);

export class Phy {
  private regs = new Uint16Array(32);
  linkUp = true;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.regs.fill(0);
    for (const [reg, value] of RESET) this.regs[reg] = value;
  }

  get loopback(): boolean {
    return (this.regs[PHY.BMCR]! & BMCR_LOOPBACK) !== 0;
  }

  read(reg: number): number {
    reg &= 31;
    if (reg === PHY.BMSR) return BMSR_BASE | (this.linkUp ? BMSR_LINK | BMSR_ANEG_COMPLETE : 0);
    if (reg === PHY.M88_SPEC_STATUS) return this.linkUp ? M88_STATUS_LINK_UP : 0;
    return this.regs[reg]!;
  }

  write(reg: number, value: number): void {
    reg &= 31;
    value &= 0xffff;
    if (READ_ONLY.has(reg)) return;
    if (reg === PHY.BMCR) {
      if (value & BMCR_RESET) {
        // A PHY soft reset keeps the other BMCR bits written with it (as the driver expects) and self-clears.
        const keep = value & ~(BMCR_RESET | BMCR_ANRESTART);
        this.regs[PHY.BMCR] = keep;
        return;
      }
      // Autonegotiation completes at once (the partner is always gigabit full duplex): the restart bit self-clears.
      this.regs[PHY.BMCR] = value & ~BMCR_ANRESTART;
      return;
    }
    this.regs[reg] = value;
  }

  save(): number[] {
    return Array.from(this.regs);
  }

  restore(regs: number[]): void {
    this.regs = new Uint16Array(32);
    this.regs.set(regs.slice(0, 32));
  }
}
