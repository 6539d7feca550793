// The MAC a NIC gets when nobody names one. Its own module so the Lab can
// salt MACs for a VM in a worker thread without loading the emulator.
import { createHash, randomBytes } from 'node:crypto';
import { formatMac } from './net/frame.ts';

let macCounter = 0;

/** A locally administered unicast MAC: derived from the VM name and NIC index (and a lab's id: two labs' MACs differ), or random. */
export function defaultMac(name: string | undefined, index: number, labId?: string): string {
  const bytes = name
    ? createHash('sha256').update(labId ? `${labId}/${name}/${index}` : `${name}/${index}`).digest().subarray(0, 5)
    : createHash('sha256').update(randomBytes(16)).update(String(macCounter++)).digest().subarray(0, 5);
  return formatMac(Uint8Array.of(0x02, ...bytes));
}
