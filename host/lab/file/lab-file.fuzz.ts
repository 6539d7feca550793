// Fuzz targets for the lab file parser, played as a hostile or careless
// author: the examples mutated as text (cut, doubled, spliced with YAML
// punctuation, anchors, aliases and lab words) and as data (fields dropped,
// values swapped for odd ones, entries cloned), and random YAML from scratch.
// Invariants, every case:
//   - parseLabFile returns a plan or throws LabFileError, nothing else;
//   - every issue has a line and column inside the file, a message, and at
//     most MAX_ISSUES are reported;
//   - a returned plan is sound (VLAN properties vlan.ts enforces, rules
//     acl.ts compiles, memory in range, unique names) and re-validates:
//     writing it as a file (write.ts) and parsing that gives the same plan.
import { readFileSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { FuzzTarget, Rng } from '../../../scripts/fuzz/harness.ts';
import { AclFilter } from '../../extensions/acl.ts';
import { vlanPropertyProblem } from '../../extensions/vlan.ts';
import { MAX_MEMORY_MIB, MIN_MEMORY_MIB } from '../../../emulator/snapshot.ts';
import { LabFileError, MAX_ISSUES, parseLabFile, planToDocument, type LabPlan } from './index.ts';
import { parseImpairmentSpec } from './impairment.ts';

const SPEC_WORDS = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'rate', 'limit', 'down', 'none', '=', ',', '50ms', '1.5s', '250us', '5%', '100%', '101%', '1mbit', '1mbps', '7bit', 'true', 'false', '0', '1000', '100001', '1e3', '-1', '', 'x'];

/** `--impair`'s SPEC from the command line: an impairment, null, or a reason; never a throw or a value out of range. */
function checkSpec(text: string): void {
  const result = parseImpairmentSpec(text);
  if (result === null || typeof result === 'string') return;
  for (const [key, value] of Object.entries(result)) {
    if (key === 'down') {
      if (typeof value !== 'boolean') throw new Error(`${JSON.stringify(text)}: down ${String(value)}`);
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`${JSON.stringify(text)}: ${key} ${String(value)}`);
  }
  if (result.lossPercent > 100 || result.duplicatePercent > 100 || result.reorderPercent > 100) throw new Error(`${JSON.stringify(text)}: a percentage over 100`);
  if ((result.jitterMs > 0 || result.reorderPercent > 0) && result.delayMs === 0) throw new Error(`${JSON.stringify(text)}: jitter/reorder without delay accepted`);
}

const EXAMPLES_DIR = new URL('../../../examples/', import.meta.url);
const EXAMPLES = readdirSync(EXAMPLES_DIR)
  .filter((name) => /\.(ya?ml|json)$/.test(name))
  .map((name) => readFileSync(new URL(name, EXAMPLES_DIR), 'utf8'));
const EXAMPLE_DATA = EXAMPLES.map((text) => parseYaml(text) as unknown);

const WORDS = [
  ': ', '- ', '[', ']', '{', '}', ',', '\n', '  ', '    ', '"', "'", '#', '&a ', '*a', '&b ', '*b', '!!str ', '!!binary ', '? ', '|', '>', '%YAML 1.1\n---\n', '---\n', '<<: *a',
  'lan1', 'lan2', 'sw1', 'sw2', 'site-a', 'router', 'a.eth0', 'router.eth1', 'trunk', 'wan', 'eth0',
  'switches', 'vms', 'links', 'nics', 'model', 'switch', 'vlan', 'addresses', 'mac', 'between', 'impairment', 'acl', 'rules', 'mirror', 'capture', 'routes', 'gateway', 'gateway6',
  'e1000', 'virtio', '10.0.1.1/24', '10.0.1.1', '10.0.1.0/24', '2001:db8::1/64', 'fe80::1', '::', '255.255.255.255', '52:54:00:00:00:01', 'ff:ff:ff:ff:ff:ff',
  'dhcp', 'guards', 'allow', 'dhcp-server', 'server', 'pool', '10.0.5.1/24',
  '0', '1', '4094', '4095', '-1', '1e999', '.nan', '0x0806', '80', '2048', '65536', 'true', 'null', '~', '50ms', '5%', '1mbit', '1mbps', 'lan1->lan2', 'site-a->site-b',
];

const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1, 10, 20, 4094, 4095, 80, 2048, 1e308, -0, 0.5, '', 'x', 'lan1', 'lan9', 'sw1', 'a.eth0', 'e1000', 'virtio', 'trunk', 'access',
  '10.0.1.1', '10.0.1.1/24', '10.0.1.255/24', '2001:db8:1::1/64', '::1', '52:54:00:00:00:01', '50ms', '5%', '1mbit', [], {}, [10, 20], ['lan1', 'lan2'], ['sw1', 'sw2'],
  { mode: 'trunk', allowed: [10] }, { mode: 'access', vlanId: 10 }, { delay: '10ms', reorder: '5%' }, { to: '10.0.9.0/24', via: '10.0.1.1' }, 'x'.repeat(300),
];

function mutateText(rng: Rng, text: string): string {
  let out = text;
  for (let n = rng.range(1, 4); n > 0; n--) {
    const at = rng.int(out.length + 1);
    const end = Math.min(out.length, at + rng.int(40));
    switch (rng.int(6)) {
      case 0:
        out = out.slice(0, at) + out.slice(end);
        break;
      case 1:
        out = out.slice(0, at) + rng.pick(WORDS) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, end) + out.slice(at, end) + out.slice(end);
        break;
      case 3: {
        const lines = out.split('\n');
        const i = rng.int(lines.length);
        const j = rng.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        out = lines.join('\n');
        break;
      }
      case 4:
        out = out.slice(0, at) + String.fromCharCode(rng.pick([0, 9, 10, 13, 32, 0x7f, 0xfeff, 0xd800, 0x2028, rng.int(0x10000)])) + out.slice(at);
        break;
      default: {
        // Replace the word at a place with a lab word (names, values, fields).
        const m = /[A-Za-z0-9_.:/%-]+/.exec(out.slice(at));
        if (m) out = out.slice(0, at + m.index) + rng.pick(WORDS) + out.slice(at + m.index + m[0].length);
      }
    }
  }
  return out;
}

/** Mutates a data tree in place: drop, replace, add or clone entries at random places. */
function mutateData(rng: Rng, value: unknown, depth = 0, rate = rng.pick([0.15, 1])): unknown {
  if (rng.chance(0.08 * rate) || depth > 8) return rng.chance(0.5) ? structuredClone(rng.pick(ODD_VALUES)) : value;
  if (Array.isArray(value)) {
    if (value.length && rng.chance(0.15 * rate)) value.splice(rng.int(value.length), 1);
    if (value.length && rng.chance(0.1 * rate)) value.push(structuredClone(value[rng.int(value.length)]));
    return value.map((item) => mutateData(rng, item, depth + 1, rate));
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length && rng.chance(0.15 * rate)) delete record[rng.pick(keys)];
    if (rng.chance(0.08 * rate)) record[rng.pick(WORDS).trim() || 'x'] = structuredClone(rng.pick(ODD_VALUES));
    if (keys.length && rng.chance(0.08 * rate)) record[`${rng.pick(keys)}${rng.int(3)}`] = structuredClone(record[rng.pick(keys)]);
    for (const key of Object.keys(record)) record[key] = mutateData(rng, record[key], depth + 1, rate);
    return record;
  }
  return value;
}

function randomYaml(rng: Rng, depth = 0): string {
  const indent = '  '.repeat(depth);
  if (depth > 4 || rng.chance(0.3)) return rng.pick(WORDS);
  const lines: string[] = [];
  for (let n = rng.range(0, 4); n > 0; n--) {
    const key = rng.pick(WORDS).trim() || 'k';
    if (rng.chance(0.3)) lines.push(`${indent}- ${randomYaml(rng, depth + 1).trim()}`);
    else lines.push(`${indent}${key}:${rng.chance(0.5) ? ` ${rng.pick(WORDS)}` : `\n${randomYaml(rng, depth + 1)}`}`);
  }
  return lines.join('\n');
}

function checkPlan(plan: LabPlan): void {
  const fail = (why: string) => {
    throw new Error(`plan unsound: ${why}`);
  };
  const names = (list: { name: string }[], what: string) => {
    if (new Set(list.map((x) => x.name)).size !== list.length) fail(`duplicate ${what} names`);
  };
  names(plan.switches, 'switch');
  names(plan.vms, 'VM');
  names(plan.links, 'link');
  const switchNames = new Set(plan.switches.map((s) => s.name));
  for (const vm of plan.vms) {
    if (!(vm.memoryMiB >= MIN_MEMORY_MIB && vm.memoryMiB <= MAX_MEMORY_MIB)) fail(`memory ${vm.memoryMiB}`);
    for (const nic of vm.nics) {
      if (!switchNames.has(nic.switch)) fail(`NIC on unknown switch ${nic.switch}`);
      if (nic.vlan && vlanPropertyProblem(nic.vlan)) fail(`VLAN property: ${vlanPropertyProblem(nic.vlan)}`);
    }
  }
  for (const link of plan.links) {
    if (link.ends[0].switch === link.ends[1].switch) fail('a link to itself');
    if (link.trunk && vlanPropertyProblem({ type: 'vlan', mode: 'trunk', ...link.trunk })) fail('link trunk');
  }
  for (const s of plan.switches) if (s.acl) new AclFilter({ rules: s.acl.rules.map(({ from: _from, ...rule }) => rule), defaultAction: s.acl.defaultAction });
}

/** What the cases came to (for judging the mutators' reach; not an invariant). */
export const outcomes = { plans: 0, refused: 0, codes: {} as Record<string, number> };

function check(text: string): void {
  let plan: LabPlan;
  try {
    plan = parseLabFile(text, { file: 'fuzz.yaml' });
  } catch (error) {
    if (!(error instanceof LabFileError)) throw error;
    outcomes.refused++;
    for (const issue of error.issues) outcomes.codes[issue.code] = (outcomes.codes[issue.code] ?? 0) + 1;
    const lineCount = text.split(/\r\n|\r|\n/).length + 1;
    if (error.issues.length === 0 || error.issues.length > MAX_ISSUES) throw new Error(`${error.issues.length} issues`);
    for (const issue of error.issues) {
      if (!(issue.line >= 1 && issue.line <= lineCount && issue.column >= 1) || !issue.message) throw new Error(`bad issue ${JSON.stringify(issue)}`);
    }
    return;
  }
  outcomes.plans++;
  checkPlan(plan);
  const again = parseLabFile(JSON.stringify(planToDocument(plan)), { file: 'rewritten.json' });
  if (!isDeepStrictEqual(again, plan)) throw new Error(`the rewritten plan differs:\n${JSON.stringify(plan)}\n${JSON.stringify(again)}`);
}

export const targets: FuzzTarget[] = [
  {
    name: 'lab-file.impair-spec',
    quick: 2000,
    run(rng) {
      let text = '';
      for (let i = rng.int(12); i >= 0; i--) text += rng.pick(SPEC_WORDS);
      checkSpec(text);
    },
  },
  {
    name: 'lab-file.text',
    quick: 1500,
    run(rng) {
      check(mutateText(rng, rng.pick(EXAMPLES)));
    },
  },
  {
    name: 'lab-file.data',
    quick: 1500,
    run(rng) {
      const data = mutateData(rng, structuredClone(rng.pick(EXAMPLE_DATA)));
      check(rng.chance(0.5) ? JSON.stringify(data) : stringifyYaml(data));
    },
  },
  {
    name: 'lab-file.random',
    quick: 1000,
    run(rng) {
      check(randomYaml(rng));
    },
  },
];
