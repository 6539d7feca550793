import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { LabFileError, LIMITS, MAX_ISSUES, parseLabFile, planToDocument, type LabFileIssue, type LabFileIssueCode } from './index.ts';
import { parseDurationMs, parsePercent, parseRateBits } from './units.ts';
import { formatAddress, parseCidr } from './address.ts';

const EXAMPLES_DIR = new URL('../../../examples/', import.meta.url);

function issuesOf(text: string, file = 'lab.yaml'): LabFileIssue[] {
  try {
    parseLabFile(text, { file });
  } catch (error) {
    assert.ok(error instanceof LabFileError, `not a LabFileError: ${String(error)}`);
    return [...error.issues];
  }
  assert.fail('the file was accepted');
}

/** A small valid lab to break one piece at a time. */
const BASE = `switches:
  lan1: {}
  lan2: {}
vms:
  a:
    nics:
      - model: e1000
        switch: lan1
        addresses: [10.0.1.10/24]
`;

test('every example validates and rewrites to the same plan', () => {
  const names = readdirSync(EXAMPLES_DIR).filter((name) => /\.(ya?ml|json)$/.test(name));
  assert.ok(names.length >= 4);
  for (const name of names) {
    const plan = parseLabFile(readFileSync(new URL(name, EXAMPLES_DIR), 'utf8'), { file: name });
    assert.deepEqual(parseLabFile(JSON.stringify(planToDocument(plan))), plan, name);
  }
});

test('the router example: two LANs, e1000 on one side and virtio on the other, IPv4 and IPv6', () => {
  const plan = parseLabFile(readFileSync(new URL('two-lans-router.yaml', EXAMPLES_DIR), 'utf8'));
  const router = plan.vms.find((vm) => vm.name === 'router')!;
  assert.equal(router.forwarding, true);
  assert.deepEqual(
    router.nics.map((nic) => [nic.name, nic.model, nic.switch, nic.addresses]),
    [
      ['eth0', 'e1000', 'lan1', ['10.0.1.1/24', '2001:db8:1::1/64']],
      ['eth1', 'virtio', 'lan2', ['10.0.2.1/24', '2001:db8:2::1/64']],
    ],
  );
  const a = plan.vms.find((vm) => vm.name === 'a')!;
  assert.equal(a.gateway, '10.0.1.1');
  assert.equal(a.gateway6, '2001:db8:1::1');
  assert.equal(a.memoryMiB, 128);
});

test('the trunk example: a generic-port link carrying VLANs 10 and 20, access NICs on both sides', () => {
  const plan = parseLabFile(readFileSync(new URL('trunk-two-vlans.yaml', EXAMPLES_DIR), 'utf8'));
  assert.deepEqual(plan.links, [
    {
      name: 'trunk',
      portType: 'generic',
      ends: [
        { switch: 'sw1', port: 'link:trunk', send: null },
        { switch: 'sw2', port: 'link:trunk', send: null },
      ],
      trunk: { allowed: [10, 20] },
    },
  ]);
  for (const vm of plan.vms) assert.deepEqual(vm.nics[0]!.vlan, { type: 'vlan', mode: 'access', vlanId: vm.name.startsWith('red') ? 10 : 20 });
});

test('the lossy WAN example: per-direction link impairment and a NIC receive impairment, in plain units', () => {
  const plan = parseLabFile(readFileSync(new URL('lossy-wan.yaml', EXAMPLES_DIR), 'utf8'));
  const [up, down] = plan.links[0]!.ends;
  assert.deepEqual(up.send, { delayMs: 40, jitterMs: 5, lossPercent: 2, duplicatePercent: 1, reorderPercent: 0, rateBitsPerSecond: 2_000_000, limitFrames: 1000, down: false });
  assert.equal(down.send!.duplicatePercent, 0);
  const bob = plan.vms.find((vm) => vm.name === 'bob')!;
  assert.deepEqual(bob.nics[0]!.impairment.send, null);
  assert.equal(bob.nics[0]!.impairment.receive!.lossPercent, 0.5);
});

// Each class of error: the snippet, and the line, column, path, code and message it must give.
const BAD: { name: string; text: string; expect: [line: number, column: number, path: string, code: LabFileIssueCode, message: RegExp] }[] = [
  {
    name: 'unknown field',
    text: BASE.replace('        switch: lan1', '        switch: lan1\n        colour: red'),
    expect: [9, 9, 'vms.a.nics[0].colour', 'unknown-field', /unknown field 'colour' \(expected model, switch/],
  },
  { name: 'unknown switch', text: BASE.replace('switch: lan1', 'switch: lan3'), expect: [8, 17, 'vms.a.nics[0].switch', 'unknown-reference', /^unknown switch 'lan3' \(have: lan1, lan2\)$/] },
  { name: 'bad address', text: BASE.replace('10.0.1.10/24', '10.0.1.300/24'), expect: [9, 21, 'vms.a.nics[0].addresses[0]', 'bad-address', /'10.0.1.300\/24' is not an IPv4 address/] },
  { name: 'bad prefix', text: BASE.replace('10.0.1.10/24', '2001:db8::1/129'), expect: [9, 21, 'vms.a.nics[0].addresses[0]', 'bad-address', /bad prefix length \(0..128 for IPv6\)/] },
  { name: 'network address', text: BASE.replace('10.0.1.10/24', '10.0.1.0/24'), expect: [9, 21, 'vms.a.nics[0].addresses[0]', 'bad-address', /network address of 10.0.1.0\/24/] },
  { name: 'duplicate VM name', text: `${BASE}  a:\n    nics: []\n`, expect: [10, 3, '', 'syntax', /Map keys must be unique/] },
  {
    name: 'duplicate MAC',
    text: `${BASE.replace('        switch: lan1\n', '        switch: lan1\n        mac: 52:54:00:00:00:01\n')}  b:\n    nics: [{ model: virtio, switch: lan2, mac: 52-54-00-00-00-01 }]\n`,
    expect: [12, 48, 'vms.b.nics[0].mac', 'duplicate', /MAC 52:54:00:00:00:01 is also vms.a.nics\[0\]'s/],
  },
  {
    name: 'duplicate address in one network',
    text: `${BASE}  b:\n    nics: [{ model: virtio, switch: lan1, addresses: [10.0.1.10/24] }]\n`,
    expect: [11, 55, 'vms.b.nics[0].addresses[0]', 'duplicate', /10.0.1.10 is also vms.a.nics\[0\]'s/],
  },
  { name: 'VLAN id out of range', text: BASE.replace('switch: lan1', 'switch: lan1\n        vlan: 4095'), expect: [9, 15, 'vms.a.nics[0].vlan', 'bad-value', /4095 is not in 1..4094/] },
  {
    name: 'trunk VLAN 0',
    text: BASE.replace('switch: lan1', 'switch: lan1\n        vlan: { mode: trunk, allowed: [10, 0] }'),
    expect: [9, 44, 'vms.a.nics[0].vlan.allowed[1]', 'bad-value', /0 is not in 1..4094/],
  },
  { name: 'missing field', text: BASE.replace('      - model: e1000\n        switch: lan1', '      - switch: lan1'), expect: [7, 9, 'vms.a.nics[0].model', 'missing-field', /'model' is required/] },
  { name: 'wrong type', text: BASE.replace('nics:', 'forwarding: yes\n    nics:'), expect: [6, 17, 'vms.a.forwarding', 'bad-type', /expected true or false, found "yes"/] },
  { name: 'memory below what boots', text: BASE.replace('nics:', 'memory: 64\n    nics:'), expect: [6, 13, 'vms.a.memory', 'bad-value', /64 is not in 80..2048/] },
  { name: 'bad name', text: BASE.replace('  a:', '  A_1:'), expect: [5, 3, 'vms.A_1', 'bad-name', /VM name 'A_1' must be lower-case/] },
  { name: 'gateway off-link', text: `${BASE}    gateway: 10.0.2.1\n`, expect: [10, 14, 'vms.a.gateway', 'bad-address', /not on any of a's subnets \(10.0.1.0\/24\)/] },
  { name: 'gateway of the other family', text: `${BASE}    gateway: 2001:db8::1\n`, expect: [10, 14, 'vms.a.gateway', 'bad-address', /is IPv6: write it as gateway6/] },
  { name: 'route with host bits', text: `${BASE}    routes: [{ to: 10.0.3.1/24, via: 10.0.1.1 }]\n`, expect: [10, 20, 'vms.a.routes[0].to', 'bad-address', /host bits set/] },
  { name: 'impairment without a unit', text: BASE.replace('switch: lan1', 'switch: lan1\n        impairment: { delay: 50 }'), expect: [9, 30, 'vms.a.nics[0].impairment.delay', 'bad-value', /needs a unit: write 50ms/] },
  { name: "tc's bytes rate", text: BASE.replace('switch: lan1', 'switch: lan1\n        impairment: { rate: 1mbps }'), expect: [9, 29, 'vms.a.nics[0].impairment.rate', 'bad-value', /bytes per second/] },
  { name: 'loss over 100%', text: BASE.replace('switch: lan1', 'switch: lan1\n        impairment: { send: { loss: 150% } }'), expect: [9, 37, 'vms.a.nics[0].impairment.send.loss', 'bad-value', /more than 100%/] },
  {
    name: 'link to an unknown switch',
    text: `${BASE}links:\n  up: { between: [lan1, core] }\n`,
    expect: [11, 25, 'links.up.between[1]', 'unknown-reference', /unknown switch 'core' \(have: lan1, lan2\)/],
  },
  {
    name: 'link direction naming another switch',
    text: `${BASE}links:\n  up:\n    between: [lan1, lan2]\n    impairment: { lan1->lan3: { delay: 1ms } }\n`,
    expect: [13, 19, 'links.up.impairment["lan1->lan3"]', 'unknown-field', /unknown field 'lan1->lan3' \(expected lan1->lan2, lan2->lan1\)/],
  },
  {
    name: 'a NIC on a VLAN the link cannot carry',
    text: `switches: { s1: {}, s2: {} }\nlinks:\n  t: { between: [s1, s2], trunk: { allowed: [10] } }\nvms:\n  a: { nics: [{ model: e1000, switch: s1, vlan: 20 }] }\n  b: { nics: [{ model: e1000, switch: s2, vlan: 20 }] }\n`,
    expect: [6, 49, 'vms.b.nics[0].vlan', 'vlan-not-carried', /VLAN 20 also on switch 's1' \(vms.a.nics\[0\]\), but link 't' between them carries VLANs 10/],
  },
  {
    name: 'an ACL rule source on another switch',
    text: `${BASE.replace('  lan1: {}', '  lan1: {}\n  lan3:\n    acl: { rules: [{ action: deny, from: [a.eth0] }] }')}`,
    expect: [4, 43, 'switches.lan3.acl.rules[0].from[0]', 'unknown-reference', /a.eth0 is on switch 'lan1', not 'lan3'/],
  },
  {
    name: 'a capture file outside the lab directory',
    text: BASE.replace('  lan2: {}', '  lan2:\n    capture: { file: /etc/x.pcapng }'),
    expect: [4, 22, 'switches.lan2.capture.file', 'bad-value', /relative path below the lab file's directory/],
  },
  {
    name: 'a multi-line command',
    text: `${BASE}    commands: ["echo hi\\nreboot"]\n`,
    expect: [10, 16, 'vms.a.commands[0]', 'bad-value', /one line without control characters/],
  },
  { name: 'YAML syntax', text: 'switches: [lan1\n', expect: [2, 1, '', 'syntax', /./] },
];

for (const bad of BAD) {
  test(`error names line, column and path: ${bad.name}`, () => {
    const issues = issuesOf(bad.text);
    const [line, column, path, code, message] = bad.expect;
    const found = issues.find((issue) => issue.code === code && issue.path === path);
    assert.ok(found, `no ${code} issue at ${path}; got:\n${issues.map((i) => `${i.line}:${i.column} ${i.path} ${i.code} ${i.message}`).join('\n')}`);
    assert.match(found.message, message);
    assert.deepEqual([found.line, found.column], [line, column], `position of ${found.path}: ${found.message}`);
  });
}

test('the message reads file:line:col: path: message', () => {
  try {
    parseLabFile(BASE.replace('switch: lan1', 'switch: lan3'), { file: 'lab.yaml' });
    assert.fail('accepted');
  } catch (error) {
    assert.ok(error instanceof LabFileError);
    assert.equal(error.message, "lab.yaml:8:17: vms.a.nics[0].switch: unknown switch 'lan3' (have: lan1, lan2)");
  }
});

test('all problems are collected, in file order, and capped', () => {
  const issues = issuesOf(`${BASE.replace('switch: lan1', 'switch: nope').replace('10.0.1.10/24', 'x')}    memory: 1\n    bogus: 1\n`);
  assert.deepEqual(
    issues.map((i) => [i.line, i.code]),
    [
      [8, 'unknown-reference'],
      [9, 'bad-address'],
      [10, 'bad-value'],
      [11, 'unknown-field'],
    ],
  );
  const many = `switches: { s: {} }\nvms:\n${Array.from({ length: 60 }, (_, i) => `  v${i}: { nics: [{ model: e1000, switch: nope }] }`).join('\n')}\n`;
  try {
    parseLabFile(many);
    assert.fail('accepted');
  } catch (error) {
    assert.ok(error instanceof LabFileError);
    assert.equal(error.issues.length, MAX_ISSUES);
    assert.equal(error.truncated, true);
    assert.match(error.message, /stopped after 50 errors/);
  }
});

test('JSON works, and its errors name line and column too', () => {
  const plan = parseLabFile(readFileSync(new URL('two-lans-router.json', EXAMPLES_DIR), 'utf8'), { file: 'lab.json' });
  assert.equal(plan.vms.length, 3);
  const json = '{\n  "switches": { "lan1": {} },\n  "vms": {\n    "a": { "nics": [{ "model": "e1000", "switch": "lan2" }], "memory": "lots" }\n  }\n}\n';
  const issues = issuesOf(json, 'lab.json');
  assert.deepEqual(
    issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`),
    ["lab.json:4:51: vms.a.nics[0].switch: unknown switch 'lan2' (have: lan1)", 'lab.json:4:72: vms.a.memory: expected MiB (80..2048), found "lots"'],
  );
  const duplicate = issuesOf('{"switches": {"s": {}, "s": {}}, "vms": {}}', 'lab.json');
  assert.equal(duplicate[0]!.code, 'syntax');
  assert.deepEqual([duplicate[0]!.line, duplicate[0]!.column], [1, 24]);
});

test('a loop of links is refused, naming the loop; a forest is accepted', () => {
  const vms = 'vms:\n  a: { nics: [{ model: e1000, switch: a }] }\n';
  const triangle = `switches: { a: {}, b: {}, c: {}, d: {} }\nlinks:\n  ab: { between: [a, b] }\n  bc: { between: [b, c] }\n  cd: { between: [c, d] }\n  ca: { between: [c, a] }\n${vms}`;
  const issues = issuesOf(triangle);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.code, 'loop');
  assert.equal(issues[0]!.path, 'links.ca.between');
  assert.equal(issues[0]!.line, 6);
  assert.match(issues[0]!.message, /links form a loop: a -\[ab\]- b -\[bc\]- c -\[ca\]- a/);

  const parallel = issuesOf(`switches: { a: {}, b: {} }\nlinks:\n  one: { between: [a, b] }\n  two: { between: [b, a] }\n${vms}`);
  assert.match(parallel[0]!.message, /loop: a -\[one\]- b -\[two\]- a/);
  assert.equal(issuesOf(`switches: { a: {} }\nlinks:\n  self: { between: [a, a] }\n${vms}`)[0]!.code, 'loop');

  const tree = parseLabFile(`switches: { a: {}, b: {}, c: {}, d: {} }\nlinks:\n  ab: { between: [a, b] }\n  bc: { between: [b, c] }\n  bd: { between: [b, d] }\n${vms}`);
  assert.equal(tree.links.length, 3);
});

test('hostile files: size, nesting, alias expansion and counts are bounded', () => {
  assert.equal(issuesOf(`# ${'x'.repeat(LIMITS.fileBytes)}\n`)[0]!.code, 'too-big');
  const deep = issuesOf(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  assert.ok(['too-big', 'syntax', 'bad-type'].includes(deep[0]!.code), deep[0]!.message);
  // Billion laughs: each level doubles what it names; the walk follows the schema, so it never expands them.
  const levels = ['a0: &a0 [x, x]', ...Array.from({ length: 30 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}, *a${i}]`)];
  const bomb = `switches: { s: {} }\nvms:\n  v:\n    nics: [{ model: e1000, switch: s }]\n    commands: *a30\nname:\n${levels.map((l) => `  ${l}`).join('\n')}\n`;
  const started = performance.now();
  assert.ok(issuesOf(bomb).length > 0);
  assert.ok(performance.now() - started < 2000);
  // Aliases are counted as they are followed.
  const echoes = `switches: { s: {} }\nvms:\n  v: { nics: &n [{ model: e1000, switch: s }], commands: [&c "echo"] }\n${Array.from({ length: 40 }, (_, i) => `  v${i}: { nics: *n, commands: [*c, *c] }`).join('\n')}\n`;
  assert.ok(issuesOf(echoes).some((i) => i.code === 'too-big' && /aliases/.test(i.message)));
  const manyVms = `switches: { s: {} }\nvms:\n${Array.from({ length: LIMITS.vms + 1 }, (_, i) => `  v${i}: { nics: [{ model: e1000, switch: s }] }`).join('\n')}\n`;
  assert.ok(issuesOf(manyVms).some((i) => i.code === 'too-many' && i.path === 'vms'));
  assert.equal(issuesOf(`switches: { ${'s'.repeat(40)}: {} }\nvms: {}\n`)[0]!.code, 'bad-name');
  assert.equal(issuesOf('')[0]!.code, 'missing-field');
  assert.equal(issuesOf('switches: {}\n---\nvms: {}\n')[0]!.code, 'syntax');
});

test('units: durations, percentages and rates as tc writes them', () => {
  assert.equal(parseDurationMs('50ms', 60_000), 50);
  assert.equal(parseDurationMs('1.5s', 60_000), 1500);
  assert.equal(parseDurationMs('250us', 60_000), 0.25);
  assert.equal(parseDurationMs(0, 60_000), 0);
  assert.match(String(parseDurationMs('61s', 60_000)), /longer than 60s/);
  assert.match(String(parseDurationMs('1e3ms', 60_000)), /not a duration/);
  assert.equal(parsePercent('5%'), 5);
  assert.equal(parsePercent('0.1%'), 0.1);
  assert.match(String(parsePercent('5')), /needs a % sign/);
  assert.equal(parseRateBits('1mbit', 1e11), 1_000_000);
  assert.equal(parseRateBits('512kbit', 1e11), 512_000);
  assert.match(String(parseRateBits('1bit', 1e11)), /below 8 bit/);
});

test('addresses: IPv6 is written back in RFC 5952 form', () => {
  const text = (s: string) => {
    const cidr = parseCidr(s);
    assert.ok(typeof cidr !== 'string', s);
    return formatAddress(cidr);
  };
  assert.equal(text('2001:0DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(text('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(text('::'), '::');
  assert.equal(text('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7');
});
