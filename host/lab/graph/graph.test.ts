import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseLabFile } from '../file/index.ts';
import { toDot, toSvg, topologyGraph, describeImpairment } from './index.ts';
import { layoutTopology } from './layout.ts';

const EXAMPLES_DIR = new URL('../../../examples/', import.meta.url);

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/** A strict little XML reader: enough to prove the SVG is well-formed and to walk it. */
function parseXml(source: string): XmlElement {
  const entity = /&(amp|lt|gt|quot|apos);/g;
  const decode = (text: string, where: string): string => {
    if (/[<]/.test(text) || /&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`unescaped markup in ${where}: ${text.slice(0, 60)}`);
    return text.replace(entity, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
  };
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [root];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>/y;
  let at = 0;
  while (at < source.length) {
    const lt = source.indexOf('<', at);
    const text = source.slice(at, lt < 0 ? source.length : lt);
    stack.at(-1)!.text += decode(text, 'text');
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(source);
    if (!m) throw new Error(`malformed tag at ${lt}: ${source.slice(lt, lt + 60)}`);
    const [, closing, name, attrText, selfClosing] = m;
    if (closing) {
      const open = stack.pop()!;
      if (open.name !== name) throw new Error(`</${name}> closes <${open.name}>`);
    } else {
      const attributes: Record<string, string> = {};
      for (const a of attrText!.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
        if (a[1]! in attributes) throw new Error(`duplicate attribute ${a[1]}`);
        attributes[a[1]!] = decode(a[2]!, `attribute ${a[1]}`);
      }
      const element: XmlElement = { name: name!, attributes, children: [], text: '' };
      stack.at(-1)!.children.push(element);
      if (!selfClosing) stack.push(element);
    }
    at = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`<${stack.at(-1)!.name}> is never closed`);
  if (root.children.length !== 1) throw new Error('not exactly one root element');
  return root.children[0]!;
}

function walk(element: XmlElement, visit: (e: XmlElement) => void): void {
  visit(element);
  for (const child of element.children) walk(child, visit);
}

function allText(element: XmlElement): string {
  let text = element.text;
  for (const child of element.children) text += '\n' + allText(child);
  return text;
}

const examples = readdirSync(EXAMPLES_DIR).filter((name) => /\.(ya?ml|json)$/.test(name));

test('the SVG of every example is well-formed and holds every node and edge of its plan', () => {
  assert.ok(examples.length >= 3);
  for (const name of examples) {
    const plan = parseLabFile(readFileSync(new URL(name, EXAMPLES_DIR), 'utf8'), { file: name });
    const svg = parseXml(toSvg(topologyGraph(plan)));
    assert.equal(svg.name, 'svg', name);
    const groups = new Map<string, XmlElement>();
    walk(svg, (e) => {
      if (e.name === 'g' && e.attributes['data-id']) {
        assert.ok(!groups.has(e.attributes['data-id']), `${name}: ${e.attributes['data-id']} drawn twice`);
        groups.set(e.attributes['data-id'], e);
      }
    });
    const expected = [
      ...plan.switches.map((s) => `switch:${s.name}`),
      ...plan.vms.map((v) => `vm:${v.name}`),
      ...plan.vms.flatMap((v) => v.nics.map((n) => `nic:${v.name}.${n.name}`)),
      ...plan.links.map((l) => `link:${l.name}`),
    ];
    assert.deepEqual([...groups.keys()].sort(), expected.sort(), name);
    for (const vm of plan.vms) {
      for (const nic of vm.nics) {
        const edge = groups.get(`nic:${vm.name}.${nic.name}`)!;
        assert.equal(edge.attributes['data-from'], `vm:${vm.name}`);
        assert.equal(edge.attributes['data-to'], `switch:${nic.switch}`);
        const text = allText(edge);
        assert.ok(text.includes(nic.model), `${name}: ${vm.name}.${nic.name} shows its model`);
        for (const address of nic.addresses) assert.ok(text.includes(address), `${name}: ${vm.name}.${nic.name} shows ${address}`);
      }
    }
    for (const link of plan.links) {
      const edge = groups.get(`link:${link.name}`)!;
      assert.deepEqual([edge.attributes['data-from'], edge.attributes['data-to']], link.ends.map((e) => `switch:${e.switch}`));
    }
  }
});

test('VLANs, trunks, impairments and routers are shown', () => {
  const plan = parseLabFile(`
switches: { s1: {}, s2: {} }
vms:
  r:
    forwarding: true
    nics:
      - { model: e1000, switch: s1, vlan: 10, addresses: [10.0.1.1/24] }
      - { model: virtio, switch: s2, vlan: 20, addresses: [10.0.2.1/24], impairment: { send: { loss: 5% } } }
  a:
    nics: [{ model: virtio, switch: s1, vlan: 10, addresses: [10.0.1.10/24] }]
links:
  wan:
    between: [s1, s2]
    trunk: { allowed: [10, 11, 12, 20] }
    impairment: { delay: 50ms, rate: 1mbit }
`);
  const graph = topologyGraph(plan);
  const byId = new Map(graph.edges.map((e) => [e.id, e]));
  assert.ok(byId.get('nic:a.eth0')!.details.includes('vlan 10'));
  assert.ok(byId.get('link:wan')!.details.includes('trunk 10-12,20'));
  assert.ok(byId.get('link:wan')!.details.includes('delay 50ms rate 1mbit'));
  assert.ok(byId.get('nic:r.eth1')!.details.includes('send: loss 5%'));
  assert.equal(graph.nodes.find((n) => n.id === 'vm:r')!.router, true);
  assert.equal(graph.nodes.find((n) => n.id === 'vm:a')!.router, false);
  // The router sits above the switch row, between its two switches.
  const layout = layoutTopology(graph);
  const r = layout.boxes.get('vm:r')!;
  const s1 = layout.boxes.get('switch:s1')!;
  const s2 = layout.boxes.get('switch:s2')!;
  assert.ok(r.y + r.height < s1.y);
  assert.ok(r.x + r.width / 2 > s1.x + s1.width / 2 && r.x + r.width / 2 < s2.x + s2.width / 2 + 1);
  assert.ok(layout.boxes.get('vm:a')!.y > s1.y + s1.height);
});

test('no two boxes overlap, even with many VMs and routers', () => {
  const vms = Array.from({ length: 20 }, (_, i) => `  v${i}:\n    nics: [{ model: virtio, switch: s${i % 3} }${i % 4 === 0 ? `, { model: e1000, switch: s${(i + 1) % 3} }` : ''}]`);
  const plan = parseLabFile(`switches: { s0: {}, s1: {}, s2: {} }\nvms:\n${vms.join('\n')}\nlinks:\n  l1: { between: [s0, s1] }\n  l2: { between: [s1, s2] }\n`);
  const boxes = [...layoutTopology(topologyGraph(plan)).boxes.values()];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i]!;
      const b = boxes[j]!;
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      assert.ok(apart, `boxes ${i} and ${j} overlap`);
    }
  }
});

test('names with markup are escaped in SVG and quoted in dot', () => {
  const graph = { title: 'a<b & "c"', nodes: [{ id: 'switch:x"y', kind: 'switch' as const, name: '<x>', details: ["it's"], router: false }], edges: [] };
  const svg = parseXml(toSvg(graph));
  assert.ok(allText(svg).includes('<x>'));
  const dot = toDot(graph);
  assert.match(dot, /^graph "a<b & \\"c\\"" \{/);
  assert.ok(dot.includes('"switch:x\\"y"'));
});

test('the dot output names every node and edge', () => {
  const plan = parseLabFile(readFileSync(new URL('two-lans-router.yaml', EXAMPLES_DIR), 'utf8'));
  const dot = toDot(topologyGraph(plan));
  for (const vm of plan.vms) {
    assert.ok(dot.includes(`"vm:${vm.name}" [label=`));
    for (const nic of vm.nics) assert.ok(dot.includes(`"vm:${vm.name}" -- "switch:${nic.switch}" [id="nic:${vm.name}.${nic.name}"`));
  }
  assert.equal(dot.trim().at(-1), '}');
});

test('describeImpairment speaks netem', () => {
  assert.equal(describeImpairment(null), '');
  const none = { delayMs: 0, jitterMs: 0, lossPercent: 0, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 0, limitFrames: 1000, down: false };
  assert.equal(describeImpairment(none), '');
  assert.equal(describeImpairment({ ...none, delayMs: 2000, jitterMs: 5, rateBitsPerSecond: 1_500_000, down: true }), 'down delay 2s±5ms rate 1.5mbit');
});
