// Register map of the Intel 82540EM as the Linux e1000 driver uses it: byte
// offsets into BAR0 and bit names. Facts from Intel's 8254x manual, QEMU's
// e1000 and Linux's e1000_hw.h. What each register does (reset value, the bits
// it keeps, its side effects) is in register-table.ts.

export const MMIO_SIZE = 128 * 1024;
export const IO_SIZE = 0x40;
export const PCI_VENDOR_INTEL = 0x8086;
export const PCI_DEVICE_82540EM = 0x100e;
export const PCI_REVISION = 3;
export const PCI_CLASS_ETHERNET = 0x020000;

export const REG = {
  CTRL: 0x0000,
  STATUS: 0x0008,
  EECD: 0x0010,
  EERD: 0x0014,
  CTRL_EXT: 0x0018,
  MDIC: 0x0020,
  FCAL: 0x0028,
  FCAH: 0x002c,
  FCT: 0x0030,
  VET: 0x0038,
  ICR: 0x00c0,
  ITR: 0x00c4,
  ICS: 0x00c8,
  IMS: 0x00d0,
  IMC: 0x00d8,
  RCTL: 0x0100,
  FCTTV: 0x0170,
  TXCW: 0x0178,
  RXCW: 0x0180,
  TCTL: 0x0400,
  TIPG: 0x0410,
  LEDCTL: 0x0e00,
  PBA: 0x1000,
  FCRTL: 0x2160,
  FCRTH: 0x2168,
  RDBAL: 0x2800,
  RDBAH: 0x2804,
  RDLEN: 0x2808,
  RDH: 0x2810,
  RDT: 0x2818,
  RDTR: 0x2820,
  RXDCTL: 0x2828,
  RADV: 0x282c,
  RSRPD: 0x2c00,
  TXDMAC: 0x3000,
  TDBAL: 0x3800,
  TDBAH: 0x3804,
  TDLEN: 0x3808,
  TDH: 0x3810,
  TDT: 0x3818,
  TIDV: 0x3820,
  TXDCTL: 0x3828,
  TADV: 0x382c,
  TSPMT: 0x3830,
  RXCSUM: 0x5000,
  MTA: 0x5200,
  RA: 0x5400,
  VFTA: 0x5600,
  WUC: 0x5800,
  WUFC: 0x5808,
  MANC: 0x5820,
} as const;

export const MTA_ENTRIES = 128;
export const RA_ENTRIES = 16;
export const VFTA_ENTRIES = 128;

// Statistics (read-to-clear). The 64-bit ones are low/high pairs.
export const STAT = {
  CRCERRS: 0x4000,
  MPC: 0x4010,
  COLC: 0x4028,
  GPRC: 0x4074,
  BPRC: 0x4078,
  MPRC: 0x407c,
  GPTC: 0x4080,
  GORCL: 0x4088,
  GORCH: 0x408c,
  GOTCL: 0x4090,
  GOTCH: 0x4094,
  RNBC: 0x40a0,
  RUC: 0x40a4,
  ROC: 0x40ac,
  TORL: 0x40c0,
  TORH: 0x40c4,
  TOTL: 0x40c8,
  TOTH: 0x40cc,
  TPR: 0x40d0,
  TPT: 0x40d4,
  MPTC: 0x40f0,
  BPTC: 0x40f4,
  TSCTC: 0x40f8,
  TSCTFC: 0x40fc,
} as const;
export const STATS_START = 0x4000;
export const STATS_END = 0x4100;

export const CTRL_FD = 1 << 0;
export const CTRL_SLU = 1 << 6;
export const CTRL_RST = 1 << 26;
export const CTRL_VME = 1 << 30;
export const CTRL_PHY_RST = 1 << 31;

export const STATUS_FD = 1 << 0;
export const STATUS_LU = 1 << 1;
export const STATUS_TXOFF = 1 << 4;
export const STATUS_SPEED_1000 = 1 << 7;
/** FD, LU, 1000 Mb/s, plus the bits QEMU reports (PCI 66 MHz, GIO master enable). */
export const STATUS_RESET = 0x80080783;

export const EECD_SK = 1 << 0;
export const EECD_CS = 1 << 1;
export const EECD_DI = 1 << 2;
export const EECD_DO = 1 << 3;
export const EECD_FWE_MASK = 3 << 4;
export const EECD_REQ = 1 << 6;
export const EECD_GNT = 1 << 7;
export const EECD_PRES = 1 << 8;

export const EERD_START = 1 << 0;
export const EERD_DONE = 1 << 4;

export const MDIC_DATA_MASK = 0xffff;
export const MDIC_REG_SHIFT = 16;
export const MDIC_PHY_SHIFT = 21;
export const MDIC_OP_WRITE = 1 << 26;
export const MDIC_OP_READ = 1 << 27;
export const MDIC_READY = 1 << 28;
export const MDIC_INT_EN = 1 << 29;
export const MDIC_ERROR = 1 << 30;

export const ICR_TXDW = 0x01;
export const ICR_TXQE = 0x02;
export const ICR_LSC = 0x04;
export const ICR_RXSEQ = 0x08;
export const ICR_RXDMT0 = 0x10;
export const ICR_RXO = 0x40;
export const ICR_RXT0 = 0x80;
export const ICR_MDAC = 0x200;
/** Cause bits kept in ICR/IMS (the driver's interrupt self-test sets each of bits 0-9, reserved 5 included). */
export const ICR_VALID = 0x0001ffff;

export const RCTL_EN = 1 << 1;
export const RCTL_SBP = 1 << 2;
export const RCTL_UPE = 1 << 3;
export const RCTL_MPE = 1 << 4;
export const RCTL_LPE = 1 << 5;
export const RCTL_LBM_SHIFT = 6;
export const RCTL_LBM_MASK = 3 << 6;
export const RCTL_RDMTS_SHIFT = 8;
export const RCTL_MO_SHIFT = 12;
export const RCTL_BAM = 1 << 15;
export const RCTL_BSIZE_SHIFT = 16;
export const RCTL_VFE = 1 << 18;
export const RCTL_BSEX = 1 << 25;
export const RCTL_SECRC = 1 << 26;

export const TCTL_EN = 1 << 1;
export const TCTL_PSP = 1 << 3;

export const RXCSUM_IPOFL = 1 << 8;
export const RXCSUM_TUOFL = 1 << 9;

export const RAH_AV = 1 << 31;
export const RDTR_FPD = 1 << 31;

/** RCTL.BSIZE/BSEX to a receive buffer size in bytes. */
export function receiveBufferSize(rctl: number): number {
  const code = (rctl >>> RCTL_BSIZE_SHIFT) & 3;
  if (rctl & RCTL_BSEX) return [16384, 16384, 8192, 4096][code]!;
  return [2048, 1024, 512, 256][code]!;
}
