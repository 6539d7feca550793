// The NIC models a VM can have, loaded lazily so that a VM pulls in only the
// models it uses.
import type { NicFactory, NicModel } from '../net/nic.ts';

export const NIC_FACTORIES: Record<NicModel, () => Promise<NicFactory>> = {
  e1000: async () => (await import('./e1000/index.ts')).createE1000,
  virtio: async () => (await import('./virtio-net/index.ts')).createVirtioNet,
  // v86's own device: the model lives in the one v86 adapter.
  'v86-virtio': async () => (await import('../v86/v86-virtio-nic.ts')).createV86VirtioNic,
};

export async function nicFactory(model: NicModel): Promise<NicFactory> {
  const load = NIC_FACTORIES[model];
  if (!load) throw new Error(`unknown NIC model '${model}' (expected ${Object.keys(NIC_FACTORIES).join(', ')})`);
  return load();
}
