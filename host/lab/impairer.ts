// The impairment extension a lab file's switches get (host/extensions/
// impairment.ts), as topology.ts's PortImpairer. Every switch has one, so
// impairments can be set while the lab runs; with none set it returns at its
// first test.
import type { Switch } from '../switch.ts';
import { ImpairmentExtension } from '../extensions/impairment.ts';
import type { PortImpairer } from './topology.ts';

/** Seeded by the switch's name: runs repeat, and two switches do not lose the same frames in step. */
export function labImpairer(sw: Switch): PortImpairer {
  let seed = 1;
  for (let i = 0; i < sw.name.length; i++) seed = (Math.imul(seed, 31) + sw.name.charCodeAt(i)) >>> 0;
  const extension = new ImpairmentExtension({ seed: seed || 1 });
  return { extension, set: (portId, impairment) => extension.set(portId, impairment) };
}
