// The e1000 (Intel 82540EM) NIC model, as the VM runtime's device registry loads it.
import type { NicFactory } from '../../net/nic.ts';
import { E1000 } from './device.ts';
import { ASSERT_AFTER_ACCESS } from './interrupts.ts';

// Real guests: interrupts are asserted after the register access that caused them (see ASSERT_AFTER_ACCESS).
export const createE1000: NicFactory = (platform, options) => new E1000(platform, options, ASSERT_AFTER_ACCESS);
export { E1000 } from './device.ts';
