// Our own virtio 1.x (modern) PCI virtio-net, the lab's synthetic NIC.
import type { NicFactory } from '../../net/nic.ts';
import { VirtioNet } from './net-device.ts';

export { VirtioNet, type VirtioNetConfig } from './net-device.ts';

export const createVirtioNet: NicFactory = (platform, options) => new VirtioNet(platform, { mac: options.mac });
