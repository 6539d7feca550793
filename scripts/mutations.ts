// The mutations `npm run mutate` applies, one at a time: small edits to real
// code that a good unit suite must notice. Each came from a review that found
// the suite green with the edit in place (issue 12, "Tests that would not
// notice"); each now has a test that fails with it. Add one whenever a review
// finds such a hole, with the tests that catch it.
//
// `search` must occur exactly once in `file` (the script refuses to run
// otherwise: the code moved, so update the mutation, do not drop it).
// `tests` are the test files run for the mutation: the ones that should kill
// it, plus neighbours, so a run stays fast.

export interface Edit {
  search: string;
  replace: string;
}

export interface Mutation {
  name: string;
  /** What the edit breaks, in words. */
  description: string;
  file: string;
  /** One edit, or several that only make sense together (same file). */
  edits: Edit[];
  tests: string[];
  /** The area whose tests catch it, when another branch writes them (they survive until that branch is merged). */
  owner?: 'switch' | 'virtio' | 'files';
}

const VIRTQUEUE = 'emulator/devices/virtio-net/virtqueue.ts';
const VIRTIO_TESTS = ['emulator/devices/virtio-net/virtqueue.test.ts', 'emulator/devices/virtio-net/tx.test.ts', 'emulator/devices/virtio-net/rx.test.ts'];
const E1000_DEVICE = 'emulator/devices/e1000/device.ts';
const E1000_STATE_TESTS = ['emulator/devices/e1000/interrupt-restore.test.ts', 'emulator/devices/e1000/state.test.ts', 'emulator/devices/e1000/device.test.ts'];

export const MUTATIONS: Mutation[] = [
  // ---- switch engineer's area (host/extensions) -------------------------------------------------
  {
    name: 'vlan-trunk-admits-all',
    description: 'a trunk port carries every VLAN, not only its allowed list',
    file: 'host/extensions/vlan.ts',
    edits: [{ search: "return this.mode === 'trunk' ? this.allowed.has(vlan) : vlan === this.accessVlan;", replace: "return this.mode === 'trunk' ? true : vlan === this.accessVlan;" }],
    tests: ['host/extensions/vlan.test.ts', 'host/switch.test.ts'],
    owner: 'switch',
  },
  {
    name: 'acl-dst-mac-ignored',
    description: "the ACL's dstMac condition is never checked",
    file: 'host/extensions/acl.ts',
    edits: [{ search: 'if (rule.dstMac >= 0 && macKey(data, 0) !== rule.dstMac) continue;', replace: '' }],
    tests: ['host/extensions/acl.test.ts'],
    owner: 'switch',
  },
  {
    name: 'acl-src-port-upper-exclusive',
    description: "the ACL's srcPort range excludes its upper bound",
    file: 'host/extensions/acl.ts',
    edits: [{ search: 'sport < rule.srcPortLow || sport > rule.srcPortHigh', replace: 'sport < rule.srcPortLow || sport >= rule.srcPortHigh' }],
    tests: ['host/extensions/acl.test.ts'],
    owner: 'switch',
  },

  // ---- virtio-net ------------------------------------------------------------------------------
  {
    name: 'virtqueue-head-bound-off-by-one',
    description: 'an avail ring head equal to the queue size is walked (reads past the descriptor table)',
    file: VIRTQUEUE,
    edits: [{ search: 'if (head >= this.size) throw', replace: 'if (head > this.size) throw' }],
    tests: VIRTIO_TESTS,
  },
  {
    name: 'virtqueue-indirect-next-bound-off-by-one',
    description: "an indirect descriptor's next equal to the table length is followed (reads past the table)",
    file: VIRTQUEUE,
    edits: [{ search: 'if (index >= entries) throw', replace: 'if (index > entries) throw' }],
    tests: VIRTIO_TESTS,
  },
  {
    name: 'virtqueue-used-index-wraps-at-queue-size',
    description: 'the used index wraps at the queue size instead of at 2^16',
    file: VIRTQUEUE,
    edits: [{ search: 'this.usedIdx = (this.usedIdx + 1) & 0xffff;', replace: 'this.usedIdx = (this.usedIdx + 1) % this.size;' }],
    tests: VIRTIO_TESTS,
  },
  {
    name: 'virtio-restored-invalid-ring-not-broken',
    description: 'a restored queue whose rings are invalid is not marked broken',
    file: VIRTQUEUE,
    edits: [{ search: 'this.enabled ? this.validate() !== undefined || ', replace: 'this.enabled ? ' }],
    tests: ['emulator/devices/virtio-net/state.test.ts'],
    owner: 'virtio',
  },

  // ---- e1000 -------------------------------------------------------------------------------------
  {
    name: 'e1000-restore-drops-delayed-causes',
    description: 'interrupt causes held back by RDTR/TIDV when the state was saved are not raised after a restore',
    file: E1000_DEVICE,
    edits: [{ search: 'if (state.delayedCauses) this.interrupts.raise(state.delayedCauses);', replace: '' }],
    tests: E1000_STATE_TESTS,
  },
  {
    name: 'e1000-restore-drops-itr',
    description: 'ITR (interrupt throttling) is not restored',
    file: 'emulator/devices/e1000/interrupts.ts',
    edits: [{ search: 'this.itr = state.itr & 0xffff;', replace: '' }],
    tests: E1000_STATE_TESTS,
  },

  // ---- CLI, labs ----------------------------------------------------------------------------------
  {
    name: 'cli-unknown-command-exits-0',
    description: '`vmswitch frobnicate` exits 0',
    file: 'cli/main.ts',
    edits: [{ search: "(try 'vmswitch --help')`);\n    return 2;", replace: "(try 'vmswitch --help')`);\n    return 0;" }],
    tests: ['cli/main.test.ts'],
  },
  {
    name: 'lab-oid-event-without-model',
    description: "the lab's OID events for a VM's port lose the NIC model",
    file: 'host/lab/lab.ts',
    edits: [{ search: "record ? { ...event, vm: record.vm, nic: `eth${record.index}`, model: record.model, ...this.switchLabel(sw) } : { ...event, ...this.switchLabel(sw) }", replace: "record ? { ...event, vm: record.vm, nic: `eth${record.index}`, ...this.switchLabel(sw) } : { ...event, ...this.switchLabel(sw) }" }],
    tests: ['host/lab/lab.test.ts'],
  },
  {
    // Not in the list: the same label on the other path (a vetoed PORT_CREATE has no port record).
    name: 'lab-vetoed-oid-event-without-model',
    description: "the lab's OID event for a vetoed PORT_CREATE loses the NIC model",
    file: 'host/lab/lab.ts',
    edits: [{ search: 'const labelled: LabOidEvent = { ...event, vm: owner.vm, nic: `eth${owner.index}`, model };', replace: 'const labelled: LabOidEvent = { ...event, vm: owner.vm, nic: `eth${owner.index}` } as LabOidEvent;' }],
    tests: ['host/lab/lab.test.ts'],
  },


  {
    name: 'page-launch-ignores-cold-choice',
    description: "the page's launch restores a template snapshot for a VM set to boot cold",
    file: 'emulator/worker/browser-launch.ts',
    edits: [{ search: 'const snapshotUrl = launch.template ? await options.snapshotFor?.(models) : undefined;', replace: 'const snapshotUrl = await options.snapshotFor?.(models);' }],
    tests: ['emulator/worker/browser-launch.test.ts'],
  },

  {
    // Not in the list (switch.test.ts catches it too): shows that random.test.ts's walk, which once
    // excluded no copy at all, now checks the excludedCopies relation for real.
    name: 'switch-excluded-copy-uncounted',
    description: 'an excluded destination copy is not counted in excludedCopies',
    file: 'host/datapath.ts',
    edits: [{ search: 'counters.excludedCopies++;\n          this.countDrop(nic, excluded, 1);', replace: 'this.countDrop(nic, excluded, 1);' }],
    tests: ['host/random.test.ts'],
  },

  // ---- files engineer's area (captures, template cache) ---------------------------------------
  {
    name: 'pcapng-packet-block-unpadded',
    description: "an Enhanced Packet Block's padding is skipped, not zeroed: it holds stale buffer bytes (tshark 4.0 reads that without complaint)",
    file: 'host/extensions/capture/pcapng.ts',
    edits: [
      { search: 'while (p & 3) this.buffer[p++] = 0;', replace: 'p = (p + 3) & ~3;' },
    ],
    tests: ['host/extensions/capture/capture.test.ts', 'host/extensions/capture/pcapng.test.ts'],
    owner: 'files',
  },
  {
    name: 'template-key-without-devices',
    description: "the template cache key does not hash emulator/devices/ (a device change would restore stale templates)",
    file: 'emulator/template-cache.ts',
    edits: [{ search: 'if (entry.isDirectory()) visit(path);', replace: "if (entry.isDirectory()) { if (entry.name !== 'devices') visit(path); }" }],
    tests: ['emulator/template-cache.test.ts'],
    owner: 'files',
  },
];
