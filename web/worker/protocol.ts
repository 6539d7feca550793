// Messages between the page (switch, UI) and a VM's Web Worker (v86 + NIC
// models). Frames cross in batches with their ArrayBuffers transferred; each
// buffer holds exactly one frame so a transfer never detaches anything else.
import type { NicCounters, NicModel } from '../../emulator/net/nic.ts';
import type { WireDriverEvent, WireFrame, WireRxOffloads } from '../../emulator/worker/wire.ts';

export { toWire, fromWire } from '../../emulator/worker/wire.ts';
export type { WireDriverEvent, WireFrame, WireRxOffloads } from '../../emulator/worker/wire.ts';

export interface ImageUrls {
  kernel: string;
  initrd: string;
  bios: string;
  vgaBios: string;
  wasm: string;
}

/** Where `vmswitch web` serves the guest image and v86's wasm (relative to the page). */
export const IMAGE_URLS: ImageUrls = {
  kernel: 'image/vmlinuz',
  initrd: 'image/initramfs.cpio.gz',
  bios: 'image/bios.bin',
  vgaBios: 'image/vgabios.bin',
  wasm: 'v86/v86.wasm',
};

export interface VmBootConfig {
  name: string;
  memoryMiB: number;
  nics: { model: NicModel; mac: string }[];
  /** One CIDR per NIC ('-' for none). */
  ip: string[];
  /** Every VM's name and address, for the guest's /etc/hosts. */
  hosts: Record<string, string>;
  image: ImageUrls;
  /** A template snapshot to restore instead of booting cold. */
  snapshotUrl?: string;
}

export type ToWorker =
  | { type: 'start'; config: VmBootConfig }
  | { type: 'input'; text: string }
  | { type: 'frames'; nic: number; frames: WireFrame[] }
  | { type: 'link'; nic: number; up: boolean }
  | { type: 'stop' };

export type VmPhase = 'loading' | 'booting' | 'restoring' | 'personalising' | 'ready' | 'stopped' | 'failed';

export type FromWorker =
  /**
   * The VM's NICs as the guest will first see them on the switch: sent before
   * the guest runs (cold boot) or after a restored guest got its own identity
   * (snapshot), so the page's PORT_CREATE/NIC_CREATE come first either way.
   */
  | { type: 'nics'; nics: { model: NicModel; mac: string; driverReady: boolean; rxOffloads: WireRxOffloads }[] }
  | { type: 'console'; text: string }
  | { type: 'frames'; nic: number; frames: WireFrame[] }
  | { type: 'driver'; nic: number; event: WireDriverEvent }
  | { type: 'counters'; nic: number; counters: NicCounters }
  | { type: 'phase'; phase: VmPhase; detail?: string; elapsedMs?: number }
  | { type: 'error'; message: string };
