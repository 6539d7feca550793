// The e1000 (Intel 82540EM) NIC model, as the VM runtime's device registry loads it.
import type { NicFactory } from '../../net/nic.ts';
import { E1000 } from './device.ts';

export const createE1000: NicFactory = (platform, options) => new E1000(platform, options);
export { E1000 } from './device.ts';
