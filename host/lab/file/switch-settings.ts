// A switch's extension settings in a lab file: capture, ACL, mirror, MAC
// learning and the default impairment of its VM ports. Settings that name
// ports (`VM.ethN` for a NIC, `LINK` for this switch's end of a link) are
// read once the VMs and links are known.
import { AclFilter } from '../../extensions/acl.ts';
import type { Field, Reader } from './reader.ts';
import { LIMITS, type NicImpairment, type PlanDhcp, type PlanAclRule, type PlanCapture, type PlanMirrorSession, type PlanSwitch, type PortRef } from './schema.ts';
import { formatCidr, hasHostBits, networkOf, normaliseMac, parseCidr } from './address.ts';
import { readNicImpairment } from './impairment.ts';
import { readUplinks, type PlanUplink } from './uplinks.ts';
import { readDhcp, readGuards } from './dhcp.ts';
import { readVlanList, vlansOf, type LinkDraft, type NicDraft } from './validate.ts';

export interface LabIndex {
  /** null: defined but refused (its own error is reported). */
  vmNics: Map<string, Map<string, NicDraft | null>>;
  links: Map<string, LinkDraft>;
  refusedLinks: Set<string>;
}

export interface SwitchSettings {
  impairment: NicImpairment | null;
  macLearning: PlanSwitch['macLearning'] | null;
  capture: Field;
  acl: Field;
  mirror: Field;
  uplinks: PlanUplink[];
  dhcp: PlanDhcp | undefined;
  guards: { dhcp: boolean; router: boolean } | undefined;
}

const CAPTURE_FILE = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*\.pcapng$/;
const DEFAULT_SNAP_LENGTH = 262_144;
const RULE_FIELDS = ['name', 'action', 'from', 'srcMac', 'dstMac', 'ethertype', 'srcIp', 'dstIp', 'protocol', 'srcPort', 'dstPort'] as const;
const PROTOCOL_NAMES = ['icmp', 'icmpv6', 'tcp', 'udp'] as const;

export function readSwitchSettings(r: Reader, at: Field): SwitchSettings | null {
  if (!r.present(at)) return null;
  const f = r.fields(at, ['capture', 'acl', 'mirror', 'macLearning', 'impairment', 'uplinks', 'dhcp', 'guards'] as const);
  if (!f) return null;
  let macLearning: SwitchSettings['macLearning'] = null;
  if (r.present(f.macLearning)) {
    const m = r.fields(f.macLearning, ['agingMs', 'maxEntries'] as const);
    if (m) {
      macLearning = {};
      if (r.present(m.agingMs)) macLearning.agingMs = r.int(m.agingMs, 1, 86_400_000, 'milliseconds');
      if (r.present(m.maxEntries)) macLearning.maxEntries = r.int(m.maxEntries, 1, 1_000_000, 'a count');
      if (macLearning.agingMs === undefined) delete macLearning.agingMs;
      if (macLearning.maxEntries === undefined) delete macLearning.maxEntries;
    }
  }
  const impairment = r.present(f.impairment) ? (readNicImpairment(r, f.impairment) ?? null) : null;
  const dhcp = r.present(f.dhcp) ? readDhcp(r, f.dhcp) : undefined;
  const guards = r.present(f.guards) ? readGuards(r, f.guards) : undefined;
  return { impairment, macLearning, capture: f.capture, acl: f.acl, mirror: f.mirror, uplinks: readUplinks(r, f.uplinks), dhcp, guards };
}

/** `a.eth0` (a NIC on this switch) or `wan` (a link with an end on it). */
function readPortRef(r: Reader, at: Field, switchName: string, index: LabIndex, nicOnly = false): PortRef | undefined {
  const text = r.string(at, nicOnly ? 'a NIC (VM.ethN)' : 'a port (VM.ethN or a link name)', 100);
  if (text === undefined) return undefined;
  const dot = text.indexOf('.');
  if (dot >= 0) {
    const vm = text.slice(0, dot);
    const nic = text.slice(dot + 1);
    const nics = index.vmNics.get(vm);
    if (!nics) return r.error(at, 'unknown-reference', `unknown VM '${vm}' (have: ${[...index.vmNics.keys()].join(', ') || 'none'})`), undefined;
    const draft = nics.get(nic);
    if (draft === null) return undefined;
    if (!draft) return r.error(at, 'unknown-reference', `VM '${vm}' has no NIC '${nic}' (have: ${[...nics.keys()].join(', ') || 'none'})`), undefined;
    if (draft.plan.switch !== switchName) return r.error(at, 'unknown-reference', `${text} is on switch '${draft.plan.switch}', not '${switchName}'`), undefined;
    return { kind: 'nic', vm, nic };
  }
  if (nicOnly) return r.error(at, 'bad-value', `expected a NIC as VM.ethN, found '${text}'`), undefined;
  const link = index.links.get(text);
  if (!link && index.refusedLinks.has(text)) return undefined;
  if (!link) return r.error(at, 'unknown-reference', `no NIC or link '${text}' (a NIC is VM.ethN; links: ${[...index.links.keys()].join(', ') || 'none'})`), undefined;
  if (!link.plan.ends.some((end) => end.switch === switchName)) return r.error(at, 'unknown-reference', `link '${text}' does not end on switch '${switchName}'`), undefined;
  return { kind: 'link', link: text };
}

function refKey(ref: PortRef): string {
  return ref.kind === 'nic' ? `${ref.vm}.${ref.nic}` : ref.link;
}

function readPortRefs(r: Reader, at: Field, switchName: string, index: LabIndex): PortRef[] | undefined {
  const items = r.list(at, 'ports', LIMITS.portRefs);
  if (!items) return undefined;
  const out: PortRef[] = [];
  let ok = true;
  for (const item of items) {
    const ref = readPortRef(r, item, switchName, index);
    if (!ref) ok = false;
    else if (out.some((other) => refKey(other) === refKey(ref))) {
      r.error(item, 'duplicate', `${refKey(ref)} is listed twice`);
      ok = false;
    } else out.push(ref);
  }
  return ok ? out : undefined;
}

export function readSwitchPorts(r: Reader, settings: SwitchSettings, switchName: string, s: PlanSwitch, index: LabIndex, captureFiles: Map<string, string>): void {
  if (r.present(settings.capture)) s.capture = readCapture(r, settings.capture, switchName, index, captureFiles);
  if (r.present(settings.acl)) s.acl = readAcl(r, settings.acl, switchName, index);
  if (r.present(settings.mirror)) s.mirror = readMirror(r, settings.mirror, switchName, index);
}

function readCapture(r: Reader, at: Field, switchName: string, index: LabIndex, files: Map<string, string>): PlanCapture | null {
  const capture: PlanCapture = { file: null, ports: null, direction: 'both', snapLength: DEFAULT_SNAP_LENGTH, enabled: true };
  if (r.shape(at) === 'scalar') return r.bool(at) ? capture : null;
  const f = r.fields(at, ['file', 'ports', 'direction', 'snapLength', 'enabled'] as const);
  if (!f) return null;
  if (r.present(f.file)) {
    // The file is untrusted: its capture may only write beside it, never up or out of its directory.
    const file = r.string(f.file, 'a file name', 255);
    if (file !== undefined && (!CAPTURE_FILE.test(file) || file.split('/').includes('..'))) {
      r.error(f.file, 'bad-value', `'${file}' must be a relative path below the lab file's directory ending in .pcapng`);
    } else if (file !== undefined && files.has(file)) {
      r.error(f.file, 'duplicate', `switch '${files.get(file)}' captures to ${file} too`);
    } else if (file !== undefined) {
      files.set(file, switchName);
      capture.file = file;
    }
  }
  if (r.present(f.ports)) capture.ports = readPortRefs(r, f.ports, switchName, index) ?? null;
  if (r.present(f.direction)) capture.direction = r.choice(f.direction, ['ingress', 'egress', 'both'] as const) ?? 'both';
  if (r.present(f.snapLength)) capture.snapLength = r.int(f.snapLength, 1, DEFAULT_SNAP_LENGTH, 'bytes') ?? DEFAULT_SNAP_LENGTH;
  if (r.present(f.enabled)) capture.enabled = r.bool(f.enabled) ?? true;
  return capture;
}

function readPortRange(r: Reader, at: Field): number | [number, number] | undefined {
  if (r.shape(at) !== 'list') return r.int(at, 0, 65535, 'a port');
  const items = r.list(at, 'two ports [low, high]', 2);
  if (!items) return undefined;
  if (items.length !== 2) return r.error(at, 'bad-value', 'a port range is [low, high]'), undefined;
  const low = r.int(items[0]!, 0, 65535, 'a port');
  const high = r.int(items[1]!, 0, 65535, 'a port');
  if (low === undefined || high === undefined) return undefined;
  if (low > high) return r.error(at, 'bad-value', `the range [${low}, ${high}] is empty`), undefined;
  return [low, high];
}

function readPrefix(r: Reader, at: Field): string | undefined {
  const text = r.string(at, 'an address or prefix', 64);
  if (text === undefined) return undefined;
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') return r.error(at, 'bad-address', cidr), undefined;
  if (hasHostBits(cidr)) return r.error(at, 'bad-address', `${text} has host bits set (did you mean ${formatCidr(networkOf(cidr))}?)`), undefined;
  return formatCidr(cidr);
}

function readAcl(r: Reader, at: Field, switchName: string, index: LabIndex): PlanSwitch['acl'] {
  const f = r.fields(at, ['defaultAction', 'rules'] as const);
  if (!f) return null;
  const acl: NonNullable<PlanSwitch['acl']> = { defaultAction: 'allow', rules: [] };
  if (r.present(f.defaultAction)) acl.defaultAction = r.choice(f.defaultAction, ['allow', 'deny'] as const) ?? 'allow';
  if (!r.present(f.rules)) return acl;
  const names = new Set<string>();
  for (const ruleAt of r.list(f.rules, 'ACL rules', LIMITS.aclRules) ?? []) {
    const rf = r.fields(ruleAt, RULE_FIELDS, ['action']);
    if (!rf) continue;
    const before = r.issues.length;
    const action = r.present(rf.action) ? r.choice(rf.action, ['allow', 'deny'] as const) : undefined;
    const rule: PlanAclRule = { action: action ?? 'deny' };
    if (r.present(rf.name)) {
      const name = r.string(rf.name, 'a rule name', 64);
      if (name !== undefined && names.has(name)) r.error(rf.name, 'duplicate', `a second rule named '${name}'`);
      else if (name !== undefined) names.add(name), (rule.name = name);
    }
    if (r.present(rf.from)) {
      const from = readPortRefs(r, rf.from, switchName, index);
      if (from) rule.from = from;
    }
    for (const key of ['srcMac', 'dstMac'] as const) {
      if (!r.present(rf[key])) continue;
      const text = r.string(rf[key], 'a MAC address', 64);
      const mac = text === undefined ? undefined : normaliseMac(text, false);
      if (typeof mac === 'object') r.error(rf[key], 'bad-value', mac.problem);
      else if (mac !== undefined) rule[key] = mac;
    }
    if (r.present(rf.ethertype)) {
      const value = r.scalar(rf.ethertype, 'an ethertype (0x0800 or 2048)');
      if (typeof value === 'string' && /^0x[0-9a-fA-F]{1,4}$/.test(value)) rule.ethertype = parseInt(value, 16);
      else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff) rule.ethertype = value;
      else if (value !== undefined) r.error(rf.ethertype, 'bad-value', `expected an ethertype (0x0000..0xffff), found ${JSON.stringify(value)}`);
    }
    for (const key of ['srcIp', 'dstIp'] as const) {
      if (!r.present(rf[key])) continue;
      const prefix = readPrefix(r, rf[key]);
      if (prefix !== undefined) rule[key] = prefix;
    }
    if (r.present(rf.protocol)) {
      const value = r.scalar(rf.protocol, 'a protocol');
      if (typeof value === 'string' && (PROTOCOL_NAMES as readonly string[]).includes(value)) rule.protocol = value as (typeof PROTOCOL_NAMES)[number];
      else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) rule.protocol = value;
      else if (value !== undefined) r.error(rf.protocol, 'bad-value', `expected ${PROTOCOL_NAMES.join(', ')} or a number 0..255, found ${JSON.stringify(value)}`);
    }
    for (const key of ['srcPort', 'dstPort'] as const) {
      if (!r.present(rf[key])) continue;
      const range = readPortRange(r, rf[key]);
      if (range === undefined) continue;
      rule[key] = range;
      // Ports exist for TCP and UDP only: a port condition beside another protocol never matches.
      if (rule.protocol !== undefined && !['tcp', 'udp', 6, 17].includes(rule.protocol)) r.error(rf[key], 'bad-value', `ports belong to tcp and udp, not protocol ${String(rule.protocol)}`);
    }
    if (r.issues.length !== before) continue;
    // The ACL's own compiler has the last word: the plan holds only rules acl.ts takes.
    try {
      const { from: _from, ...aclRule } = rule;
      new AclFilter({ rules: [aclRule] });
    } catch (error) {
      r.error(ruleAt, 'bad-value', error instanceof Error ? error.message : String(error));
      continue;
    }
    acl.rules.push(rule);
  }
  return acl;
}

function readMirror(r: Reader, at: Field, switchName: string, index: LabIndex): PlanMirrorSession[] {
  const out: PlanMirrorSession[] = [];
  for (const [i, sessionAt] of (r.list(at, 'mirror sessions', LIMITS.mirrorSessions) ?? []).entries()) {
    const f = r.fields(sessionAt, ['name', 'from', 'toward', 'vlans', 'to'] as const, ['to']);
    if (!f || !r.present(f.to)) continue;
    const before = r.issues.length;
    const name = r.present(f.name) ? r.string(f.name, 'a session name', 64) : `mirror ${i + 1}`;
    const from = r.present(f.from) ? readPortRefs(r, f.from, switchName, index) : [];
    const toward = r.present(f.toward) ? readPortRefs(r, f.toward, switchName, index) : [];
    // VLAN 0 is the untagged default VLAN, as mirror.ts counts it.
    const vlans = r.present(f.vlans) ? readVlanList(r, f.vlans, 1, 0) : [];
    const to = readPortRef(r, f.to, switchName, index, true);
    if (r.issues.length !== before || !name || !from || !toward || !vlans || !to || to.kind !== 'nic') continue;
    if (from.length + toward.length + vlans.length === 0) {
      r.error(sessionAt, 'missing-field', "a mirror session needs 'from', 'toward' or 'vlans' (else it copies nothing)");
      continue;
    }
    // The copies leave through the mirror NIC's port: it must carry what is mirrored.
    const mirrorNic = index.vmNics.get(to.vm)!.get(to.nic)!.plan;
    const carried = vlansOf(mirrorNic.vlan);
    const missing = vlans.filter((v) => !carried.includes(v));
    if (missing.length > 0) {
      r.error(f.to, 'vlan-not-carried', `${to.vm}.${to.nic} does not carry VLAN ${missing.join(', ')} (make it a trunk that allows them)`);
      continue;
    }
    out.push({ name, from, toward, vlans, to });
  }
  return out;
}
