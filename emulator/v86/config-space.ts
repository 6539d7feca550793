// PCI type-0 configuration space for a device of ours (pure, unit-tested).
import type { PciFunctionSpec } from '../platform.ts';

export const CONFIG_SPACE_SIZE = 256;
const STATUS_CAPABILITIES = 0x10;
const CAPABILITIES_START = 0x40;

/**
 * The 256 config bytes v86 serves for the function. `barAddresses[n]` is the
 * initial base of BAR n (MMIO: final, v86 cannot move it; I/O: SeaBIOS moves it).
 */
export function buildConfigSpace(spec: PciFunctionSpec, barAddresses: readonly number[]): Uint8Array {
  const space = new Uint8Array(CONFIG_SPACE_SIZE);
  const view = new DataView(space.buffer);
  view.setUint16(0x00, spec.vendorId, true);
  view.setUint16(0x02, spec.deviceId, true);
  view.setUint16(0x04, 0, true); // command: the BIOS and the driver enable decoding and bus mastering
  space[0x08] = spec.revision & 0xff;
  space[0x09] = spec.classCode & 0xff;
  space[0x0a] = (spec.classCode >>> 8) & 0xff;
  space[0x0b] = (spec.classCode >>> 16) & 0xff;
  space[0x0e] = 0x00; // header type 0, single function
  if (spec.bars.length > 6) throw new Error(`${spec.name}: a PCI function has at most 6 BARs`);
  spec.bars.forEach((bar, n) => {
    if (!bar) return;
    if (!Number.isInteger(bar.size) || bar.size < 4 || (bar.size & (bar.size - 1)) !== 0) {
      throw new Error(`${spec.name}: BAR${n} size ${bar.size} is not a power of two >= 4`);
    }
    const base = barAddresses[n] ?? 0;
    if (base % bar.size !== 0) throw new Error(`${spec.name}: BAR${n} base 0x${base.toString(16)} is not aligned to its size`);
    // MMIO: 32-bit, non-prefetchable (low bits 0); I/O: bit 0 set.
    view.setUint32(0x10 + n * 4, (bar.kind === 'io' ? base | 1 : base) >>> 0, true);
  });
  view.setUint16(0x2c, spec.subsystemVendorId ?? 0, true);
  view.setUint16(0x2e, spec.subsystemId ?? 0, true);
  space[0x3d] = 1; // interrupt pin INTA#

  const caps = spec.capabilities ?? [];
  if (caps.length) {
    let at = CAPABILITIES_START;
    let previousNext = 0x34; // the capabilities pointer
    for (const cap of caps) {
      const length = 2 + cap.body.length;
      if (at + length > CONFIG_SPACE_SIZE) throw new Error(`${spec.name}: capabilities do not fit in config space`);
      space[previousNext] = at;
      space[at] = cap.id & 0xff;
      space[at + 1] = 0;
      space.set(cap.body, at + 2);
      previousNext = at + 1;
      at = (at + length + 3) & ~3;
    }
    view.setUint16(0x06, STATUS_CAPABILITIES, true);
  }
  return space;
}
