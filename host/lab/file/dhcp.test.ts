// DHCP and guard settings in a lab file: what the plan holds, what the
// validator refuses (each error naming its line and field), the round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabFileError, parseLabFile, planToDocument } from './index.ts';
import { stringify } from 'yaml';

const GOOD = `
switches:
  lan:
    dhcp: { server: 10.0.5.2/24, gateway: 10.0.5.1, dns: [10.0.5.1], leaseSeconds: 600, pool: { from: 10.0.5.100, to: 10.0.5.150 } }
    guards: { dhcp: true, router: true }
vms:
  c: { nics: [{ model: e1000, switch: lan, dhcp: true, mac: 52:54:00:00:05:0c, addresses: [10.0.5.20/24] }] }
  r: { nics: [{ model: e1000, switch: lan, allow: [dhcp-server, router], addresses: [10.0.5.2/24] }] }
`;

test('dhcp: the server, its reservations from DHCP NICs, guards and guard exceptions reach the plan; the plan writes back', () => {
  const plan = parseLabFile(GOOD);
  assert.deepEqual(plan.switches[0]!.dhcp, {
    serverIp: '10.0.5.2',
    subnet: '10.0.5.0/24',
    gateway: '10.0.5.1',
    dns: ['10.0.5.1'],
    leaseSeconds: 600,
    pool: { from: '10.0.5.100', to: '10.0.5.150' },
    reservations: [{ mac: '52:54:00:00:05:0c', ip: '10.0.5.20' }],
  });
  assert.deepEqual(plan.switches[0]!.guards, { dhcp: true, router: true });
  assert.equal(plan.vms[0]!.nics[0]!.dhcp, true);
  assert.deepEqual(plan.vms[1]!.nics[0]!.allow, ['dhcp-server', 'router']);
  assert.equal(plan.vms[1]!.nics[0]!.dhcp, undefined);
  assert.deepEqual(parseLabFile(stringify(planToDocument(plan))), plan);
});

function issues(text: string): string[] {
  try {
    parseLabFile(text, { file: 'd.yaml' });
  } catch (error) {
    assert.ok(error instanceof LabFileError);
    return error.message.split('\n');
  }
  assert.fail('expected errors');
}

test('dhcp: bad settings name their line and field', () => {
  const bad = (sw: string, nic: string) => `switches:\n  lan:\n${sw}vms:\n  c:\n    nics:\n${nic}`;
  assert.match(issues(bad('    dhcp: { server: 10.0.5.1 }\n', '      - { model: e1000, switch: lan }\n'))[0]!, /^d\.yaml:3:\d+: switches\.lan\.dhcp\.server: '10\.0\.5\.1' is not an IPv4 address with its prefix/);
  assert.match(issues(bad('    dhcp: { server: 10.0.5.1/24, pool: { from: 10.0.6.1, to: 10.0.6.9 } }\n', '      - { model: e1000, switch: lan }\n'))[0]!, /^d\.yaml:3:\d+: switches\.lan: dhcp: .*pool/);
  assert.match(issues(bad('    {}\n', '      - { model: e1000, switch: lan, dhcp: true }\n'))[0]!, /^d\.yaml:\d+:\d+: vms\.c\.nics\[0\]\.dhcp: switch 'lan' has no DHCP server/);
  assert.match(issues(bad('    dhcp: { server: 10.0.5.1/24 }\n', '      - { model: e1000, switch: lan, dhcp: true, addresses: [10.0.5.9/24] }\n'))[0]!, /dhcp: the reservation 10\.0\.5\.9\/24 needs the NIC's 'mac'/);
  assert.match(issues(bad('    guards: { dhcp: yes please }\n', '      - { model: e1000, switch: lan }\n'))[0]!, /switches\.lan\.guards\.dhcp/);
  assert.match(issues(bad('    {}\n', '      - { model: e1000, switch: lan, allow: [everything] }\n'))[0]!, /vms\.c\.nics\[0\]\.allow\[0\]/);
});
