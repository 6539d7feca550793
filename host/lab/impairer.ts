// The impairment extension a lab file's switches get (host/extensions/
// impairment.ts, ImpairmentExtension), as topology.ts's PortImpairer.
import type { Switch } from '../switch.ts';
import type { PortImpairer } from './topology.ts';

/** Undefined until the impairment extension is in the tree: impairments are then reported, not applied. */
export const labImpairer: ((sw: Switch) => PortImpairer) | undefined = undefined;
