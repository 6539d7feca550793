// The NIC models a VM can have, loaded lazily so that a VM pulls in only the
// models it uses.
import type { NicFactory, NicModel } from '../net/nic.ts';

export const NIC_FACTORIES: Record<NicModel, () => Promise<NicFactory>> = {
  e1000: async () => (await import('./e1000/index.ts')).createE1000,
  virtio: async () => (await import('./virtio-net/index.ts')).createVirtioNet,
};

export async function nicFactory(model: NicModel): Promise<NicFactory> {
  const load = NIC_FACTORIES[model];
  if (!load) throw new Error(`unknown NIC model '${model}' (expected ${Object.keys(NIC_FACTORIES).join(', ')})`);
  return load();
}
