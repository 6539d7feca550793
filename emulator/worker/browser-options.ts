// What a browser VM thread is started with beyond the protocol's options: the
// URLs it fetches the guest image (and a template snapshot) from. Plain data
// shared by the page (browser-launch.ts) and the worker (browser-vm.ts).
import type { VmThreadOptions } from './protocol.ts';

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

/**
 * The 'start' options of a browser VM: the extra fields ride along in the same
 * structured-clone message (the protocol's own fields are unchanged).
 */
export interface BrowserVmOptions extends VmThreadOptions {
  /** Absolute URLs (a worker resolves relative ones against its own script, not the page). */
  image: ImageUrls;
  /** A template snapshot to restore instead of booting cold; unusable -> cold boot. */
  snapshotUrl?: string;
}
