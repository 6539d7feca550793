import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabFileError, parseLabFile, planToDocument } from './index.ts';

const lab = (uplinks: string) => `switches:
  lan1:
    uplinks: ${uplinks}
vms:
  a:
    nics: [{ model: virtio, switch: lan1, addresses: [10.0.0.11/24] }]
`;

function issues(text: string): string[] {
  try {
    parseLabFile(text, { file: 'lab.yaml' });
  } catch (error) {
    assert.ok(error instanceof LabFileError);
    return error.issues.map((issue) => `${issue.path}: ${issue.code}: ${issue.message}`);
  }
  assert.fail('accepted');
}

test('uplinks: a VXLAN uplink per switch, with defaults, and written back the same', () => {
  const plan = parseLabFile(lab('[{ type: vxlan, vni: 42, peers: [127.0.0.2:4789, 127.0.0.3:4790] }]'));
  assert.deepEqual(plan.switches[0]!.uplinks, [
    {
      type: 'vxlan',
      vni: 42,
      local: { address: '127.0.0.1', port: 4789, family: 4 },
      peers: [
        { address: '127.0.0.2', port: 4789, family: 4 },
        { address: '127.0.0.3', port: 4790, family: 4 },
      ],
    },
  ]);
  const v6 = parseLabFile(lab('[{ type: vxlan, vni: 7, local: "::1", port: 14789, peers: ["[::1]:14790"], mtu: 1400 }]'));
  assert.equal(v6.switches[0]!.uplinks[0]!.local.family, 6);
  assert.equal(v6.switches[0]!.uplinks[0]!.mtu, 1400);
  for (const p of [plan, v6]) assert.deepEqual(parseLabFile(JSON.stringify(planToDocument(p))), p);
  assert.deepEqual(parseLabFile(lab('[]')).switches[0]!.uplinks, []);
});

test('uplinks: bad entries are reported at their path', () => {
  const cases: [string, RegExp][] = [
    ['[{ type: gre, vni: 1, peers: [127.0.0.2:4789] }]', /type: bad-value: unknown uplink type 'gre'/],
    ['[{ type: vxlan, vni: 16777216, peers: [127.0.0.2:4789] }]', /vni: bad-value/],
    ['[{ type: vxlan, vni: 1 }]', /peers: missing-field/],
    ['[{ type: vxlan, vni: 1, peers: [nope:1] }]', /peers\[0\]: bad-address/],
    ['[{ type: vxlan, vni: 1, peers: ["[::1]:4789"] }]', /bad-value: uplink: peer .* is IPv6/],
    ['[{ type: vxlan, vni: 1, local: 1.2.3, peers: [127.0.0.2:1] }]', /local: bad-address/],
    ['[{ type: vxlan, vni: 1, port: 0, peers: [127.0.0.2:1] }]', /port: bad-value/],
    ['[{ type: vxlan, vni: 1, peers: [127.0.0.2:1], color: red }]', /unknown-field/],
    ['[{ type: vxlan, vni: 1, peers: [127.0.0.2:1] }, { type: vxlan, vni: 2, peers: [127.0.0.2:1] }]', /too-many/],
  ];
  for (const [uplinks, pattern] of cases) assert.match(issues(lab(uplinks)).join('\n'), pattern, uplinks);
});
