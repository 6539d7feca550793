// A lab file's document tree -> LabPlan: every field checked where it is,
// then the references between switches, VMs and links, the loop rule, VLAN
// reach and uniqueness across the lab. Problems go to the Reader (with line,
// column and path); the plan returned is only meaningful when there are none.
import { NIC_MODELS } from '../../../emulator/net/nic.ts';
import { MAX_MEMORY_MIB, MIN_MEMORY_MIB } from '../../../emulator/snapshot.ts';
import type { VlanProperty } from '../../extensions/vlan.ts';
import type { Field, Reader } from './reader.ts';
import { DEFAULT_MEMORY_MIB, LIMITS, LINK_PORT_TYPE, type LabPlan, type NicImpairment, type PlanLink, type PlanNic, type PlanRoute, type PlanSwitch, type PlanVm } from './schema.ts';
import { formatAddress, formatCidr, hasHostBits, inSubnet, networkOf, normaliseMac, parseCidr, sameAddress, unicastProblem, type Cidr } from './address.ts';
import { readLinkImpairment, readNicImpairment } from './impairment.ts';
import { SwitchForest } from './topology.ts';
import { readSwitchPorts, readSwitchSettings, type LabIndex } from './switch-settings.ts';
import { checkDhcp, readNicDhcp } from './dhcp.ts';

const NAME = /^[a-z][a-z0-9-]*$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** A command is one shell line: a newline or control character would start another the file does not show. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export interface NicDraft {
  plan: PlanNic;
  vm: string;
  at: Field;
  switchAt: Field;
  vlanAt: Field;
  cidrs: { cidr: Cidr; at: Field }[];
}

export interface LinkDraft {
  plan: PlanLink;
  at: Field;
}

function checkName(r: Reader, name: string, at: Field, what: string): boolean {
  if (name.length > LIMITS.nameLength || !NAME.test(name)) {
    const shown = name.length > 40 ? `${name.slice(0, 40)}...` : name;
    r.error(at, 'bad-name', `${what} name '${shown}' must be lower-case letters, digits and '-', starting with a letter, at most ${LIMITS.nameLength} characters`);
    return false;
  }
  return true;
}

export function readVlanId(r: Reader, at: Field, min = 1): number | undefined {
  return r.int(at, min, 4094, 'a VLAN id');
}

/** A list of distinct VLAN ids. */
export function readVlanList(r: Reader, at: Field, min: number, minId = 1): number[] | undefined {
  const items = r.list(at, 'VLAN ids', LIMITS.vlansPerTrunk);
  if (!items) return undefined;
  if (items.length < min) {
    r.error(at, 'bad-value', 'needs at least one VLAN id');
    return undefined;
  }
  const out: number[] = [];
  for (const item of items) {
    const id = readVlanId(r, item, minId);
    if (id === undefined) continue;
    if (out.includes(id)) r.error(item, 'duplicate', `VLAN ${id} is listed twice`);
    else out.push(id);
  }
  return out.length === items.length ? out : undefined;
}

/** A NIC's VLAN: a bare id (access) or the VlanProperty of vlan.ts (`type: vlan` optional). */
function readVlan(r: Reader, at: Field): VlanProperty | undefined {
  if (r.shape(at) === 'scalar') {
    const id = readVlanId(r, at);
    return id === undefined ? undefined : { type: 'vlan', mode: 'access', vlanId: id };
  }
  const f = r.fields(at, ['type', 'mode', 'vlanId', 'allowed', 'nativeVlanId'] as const, ['mode']);
  if (!f) return undefined;
  if (r.present(f.type)) r.choice(f.type, ['vlan'] as const);
  const mode = r.present(f.mode) ? r.choice(f.mode, ['access', 'trunk', 'private'] as const) : undefined;
  if (mode === 'private') {
    r.error(f.mode, 'bad-value', 'private VLANs are not supported (no built-in forwarder enforces them)');
    return undefined;
  }
  if (mode === 'access') {
    for (const key of ['allowed', 'nativeVlanId'] as const) if (r.present(f[key])) r.error(f[key], 'unknown-field', `'${key}' belongs to a trunk, not an access port`);
    if (!r.present(f.vlanId)) {
      r.error(at, 'missing-field', "'vlanId' is required for an access port");
      return undefined;
    }
    const id = readVlanId(r, f.vlanId);
    return id === undefined ? undefined : { type: 'vlan', mode: 'access', vlanId: id };
  }
  if (mode === 'trunk') {
    if (r.present(f.vlanId)) r.error(f.vlanId, 'unknown-field', "'vlanId' belongs to an access port; a trunk has 'allowed' (and 'nativeVlanId')");
    const trunk = readTrunk(r, f.allowed, f.nativeVlanId, at);
    return trunk && { type: 'vlan', mode: 'trunk', ...trunk };
  }
  return undefined;
}

function readTrunk(r: Reader, allowedAt: Field, nativeAt: Field, at: Field): { allowed: number[]; nativeVlanId?: number } | undefined {
  if (!r.present(allowedAt)) {
    r.error(at, 'missing-field', "'allowed' is required for a trunk");
    return undefined;
  }
  const allowed = readVlanList(r, allowedAt, 1);
  const native = r.present(nativeAt) ? readVlanId(r, nativeAt) : null;
  if (!allowed || native === undefined) return undefined;
  return native === null ? { allowed } : { allowed, nativeVlanId: native };
}

/** The VLANs a port carries (0: the untagged default VLAN). */
export function vlansOf(vlan: VlanProperty | { allowed: number[]; nativeVlanId?: number } | null): number[] {
  if (vlan === null) return [0];
  if ('mode' in vlan && vlan.mode === 'access') return [vlan.vlanId];
  if ('allowed' in vlan) return vlan.nativeVlanId !== undefined && !vlan.allowed.includes(vlan.nativeVlanId) ? [...vlan.allowed, vlan.nativeVlanId] : [...vlan.allowed];
  return [];
}

function describeVlan(v: number): string {
  return v === 0 ? 'untagged frames (NICs without a VLAN)' : `VLAN ${v}`;
}

export function buildPlan(r: Reader, rootAt: Field): LabPlan {
  const plan: LabPlan = { name: null, switches: [], vms: [], links: [] };
  const top = r.fields(rootAt, ['name', 'switches', 'vms', 'links'] as const, ['switches', 'vms']);
  if (!top) return plan;
  if (r.present(top.name)) {
    const name = r.string(top.name, 'a string', 200);
    if (name !== undefined) plan.name = name;
  }

  // Switches first (links and NICs name them); their port settings wait for the VMs and links.
  const switches = new Map<string, { plan: PlanSwitch; at: Field; defaultImpairment: NicImpairment | null; settings: ReturnType<typeof readSwitchSettings> }>();
  const switchList = r.present(top.switches) ? r.named(top.switches, 'switches', LIMITS.switches) : null;
  for (const [name, keyAt, valueAt] of switchList ?? []) {
    if (!checkName(r, name, keyAt, 'switch')) continue;
    const s: PlanSwitch = { name, capture: null, acl: null, mirror: [], macLearning: {}, uplinks: [] };
    const settings = readSwitchSettings(r, valueAt);
    const defaultImpairment = settings?.impairment ?? null;
    if (settings?.macLearning) s.macLearning = settings.macLearning;
    if (settings?.uplinks) s.uplinks = settings.uplinks;
    if (settings?.dhcp) s.dhcp = settings.dhcp;
    if (settings?.guards) s.guards = settings.guards;
    switches.set(name, { plan: s, at: valueAt, defaultImpairment, settings });
    plan.switches.push(s);
  }
  const switchNames = () => [...switches.keys()].join(', ') || 'none';
  const knownSwitch = (name: string, at: Field): boolean => {
    if (switches.has(name)) return true;
    r.error(at, 'unknown-reference', `unknown switch '${name}' (have: ${switchNames()})`);
    return false;
  };

  // Links: two different switches each; a link that closes a loop is refused.
  const forest = new SwitchForest();
  const links = new Map<string, LinkDraft>();
  const refusedLinks = new Set<string>();
  const linkList = r.present(top.links) ? r.named(top.links, 'links', LIMITS.links) : null;
  for (const [name, keyAt, valueAt] of linkList ?? []) {
    if (!checkName(r, name, keyAt, 'link')) continue;
    refusedLinks.add(name);
    const f = r.fields(valueAt, ['between', 'trunk', 'impairment'] as const, ['between']);
    if (!f || !r.present(f.between)) continue;
    const ends = r.list(f.between, 'two switch names', 2);
    if (!ends) continue;
    if (ends.length !== 2) {
      r.error(f.between, 'bad-value', `a link joins two switches, not ${ends.length}`);
      continue;
    }
    const [a, b] = ends.map((end) => r.string(end, 'a switch name', 200)) as [string | undefined, string | undefined];
    if (a === undefined || b === undefined) continue;
    if (!knownSwitch(a, ends[0]!) || !knownSwitch(b, ends[1]!)) continue;
    if (a === b) {
      r.error(ends[1]!, 'loop', `a link joins two different switches; '${a}' to itself is a loop`);
      continue;
    }
    let trunk: PlanLink['trunk'] = null;
    if (r.present(f.trunk)) {
      const t = r.fields(f.trunk, ['allowed', 'nativeVlanId'] as const);
      if (!t) continue;
      const read = readTrunk(r, t.allowed, t.nativeVlanId, f.trunk);
      if (!read) continue;
      trunk = read;
    }
    const impairment = r.present(f.impairment) ? readLinkImpairment(r, f.impairment, a, b) : [null, null];
    if (!impairment) continue;
    const loop = forest.add({ name, a, b });
    if (loop !== null) {
      r.error(f.between, 'loop', `links form a loop: ${loop} (there is no spanning tree; remove a link)`);
      continue;
    }
    const port = `link:${name}`;
    const link: PlanLink = {
      name,
      portType: LINK_PORT_TYPE,
      ends: [
        { switch: a, port, send: impairment[0] },
        { switch: b, port, send: impairment[1] },
      ],
      trunk,
    };
    links.set(name, { plan: link, at: valueAt });
    refusedLinks.delete(name);
    plan.links.push(link);
  }

  // VMs and their NICs.
  const nics: NicDraft[] = [];
  // A NIC or link the file defines but that was refused maps to null: references to it stay quiet (its own error says enough).
  const vmNics = new Map<string, Map<string, NicDraft | null>>();
  const macs = new Map<string, string>();
  const vmList = r.present(top.vms) ? r.named(top.vms, 'VMs', LIMITS.vms) : null;
  for (const [name, keyAt, valueAt] of vmList ?? []) {
    if (!checkName(r, name, keyAt, 'VM')) continue;
    const f = r.fields(valueAt, ['memory', 'hostname', 'forwarding', 'nics', 'gateway', 'gateway6', 'routes', 'commands'] as const, ['nics']);
    if (!f) continue;
    const vm: PlanVm = { name, hostname: name, memoryMiB: DEFAULT_MEMORY_MIB, forwarding: false, nics: [], gateway: null, gateway6: null, routes: [], commands: [] };
    if (r.present(f.memory)) vm.memoryMiB = r.int(f.memory, MIN_MEMORY_MIB, MAX_MEMORY_MIB, 'MiB') ?? DEFAULT_MEMORY_MIB;
    if (r.present(f.hostname)) {
      const hostname = r.string(f.hostname, 'a host name', 253);
      if (hostname !== undefined && !HOSTNAME.test(hostname)) r.error(f.hostname, 'bad-name', `'${hostname}' is not a host name (letters, digits and '-' in dot-separated labels)`);
      else if (hostname !== undefined) vm.hostname = hostname;
    }
    if (r.present(f.forwarding)) vm.forwarding = r.bool(f.forwarding) ?? false;

    const own = new Map<string, NicDraft | null>();
    vmNics.set(name, own);
    const nicItems = r.present(f.nics) ? r.list(f.nics, 'NICs', LIMITS.nicsPerVm) : null;
    if (nicItems && nicItems.length === 0) r.error(f.nics, 'bad-value', 'a VM needs at least one NIC');
    for (const [index, nicAt] of (nicItems ?? []).entries()) {
      const draft = readNic(r, nicAt, name, index, switches, knownSwitch, macs);
      own.set(`eth${index}`, draft ?? null);
      if (!draft) continue;
      own.set(draft.plan.name, draft);
      nics.push(draft);
      vm.nics.push(draft.plan);
    }
    readRoutes(r, f, vm, [...own.values()].filter((nic) => nic !== null));
    if (r.present(f.commands)) {
      for (const item of r.list(f.commands, 'commands', LIMITS.commands) ?? []) {
        const command = r.string(item, 'a command', LIMITS.commandLength);
        if (command === undefined) continue;
        if (!command.trim()) r.error(item, 'bad-value', 'an empty command');
        else if (CONTROL.test(command)) r.error(item, 'bad-value', 'a command is one line without control characters (write several commands)');
        else vm.commands.push(command);
      }
    }
    plan.vms.push(vm);
  }

  // Settings that name ports: capture, ACL sources, mirror sessions.
  const index: LabIndex = { vmNics, links, refusedLinks };
  const captureFiles = new Map<string, string>();
  for (const [name, s] of switches) {
    if (s.settings) readSwitchPorts(r, s.settings, name, s.plan, index, captureFiles);
    checkDhcp(r, s.plan, s.at, plan.vms.flatMap((vm) => vm.nics));
  }

  checkVlanReach(r, nics, links, forest);
  checkAddresses(r, nics, forest);
  return plan;
}

function readNic(
  r: Reader,
  at: Field,
  vm: string,
  index: number,
  switches: Map<string, { defaultImpairment: NicImpairment | null; plan: PlanSwitch }>,
  knownSwitch: (name: string, at: Field) => boolean,
  macs: Map<string, string>,
): NicDraft | undefined {
  const f = r.fields(at, ['model', 'switch', 'mac', 'addresses', 'vlan', 'impairment', 'dhcp', 'allow'] as const, ['model', 'switch']);
  if (!f) return undefined;
  const model = r.present(f.model) ? r.choice(f.model, NIC_MODELS) : undefined;
  const sw = r.present(f.switch) ? r.string(f.switch, 'a switch name', 200) : undefined;
  const switchOk = sw !== undefined && knownSwitch(sw, f.switch);
  let mac: string | null = null;
  if (r.present(f.mac)) {
    const text = r.string(f.mac, 'a MAC address', 64);
    const normal = text === undefined ? undefined : normaliseMac(text);
    if (typeof normal === 'object') r.error(f.mac, 'bad-value', normal.problem);
    else if (normal !== undefined) {
      const other = macs.get(normal);
      if (other) r.error(f.mac, 'duplicate', `MAC ${normal} is also ${other}'s`);
      else macs.set(normal, at.path);
      mac = normal;
    }
  }
  const cidrs: { cidr: Cidr; at: Field }[] = [];
  if (r.present(f.addresses)) {
    for (const item of r.list(f.addresses, 'addresses', LIMITS.addressesPerNic) ?? []) {
      const text = r.string(item, 'an address in CIDR form', 64);
      if (text === undefined) continue;
      const cidr = parseCidr(text);
      if (typeof cidr === 'string') {
        r.error(item, 'bad-address', cidr);
        continue;
      }
      const problem = unicastProblem(cidr);
      if (problem) r.error(item, 'bad-address', `${text} ${problem}`);
      else if (cidrs.some((c) => sameAddress(c.cidr, cidr))) r.error(item, 'duplicate', `${formatAddress(cidr)} is listed twice`);
      else cidrs.push({ cidr, at: item });
    }
  }
  const vlan = r.present(f.vlan) ? readVlan(r, f.vlan) : null;
  const ownImpairment = r.present(f.impairment) ? readNicImpairment(r, f.impairment) : null;
  if (!model || !switchOk || vlan === undefined || ownImpairment === undefined) return undefined;
  const impairment = ownImpairment ?? switches.get(sw)!.defaultImpairment ?? { send: null, receive: null };
  const plan: PlanNic = { name: `eth${index}`, model, switch: sw, mac, addresses: cidrs.map((c) => formatCidr(c.cidr)), vlan, impairment: structuredClone(impairment) };
  if (!readNicDhcp(r, f, plan, switches.get(sw)!.plan)) return undefined;
  return { plan, vm, at, switchAt: f.switch, vlanAt: r.present(f.vlan) ? f.vlan : f.switch, cidrs };
}

/** The gateways and routes: each next hop on the subnet of one of the VM's own addresses. */
function readRoutes(r: Reader, f: Record<'gateway' | 'gateway6' | 'routes', Field>, vm: PlanVm, own: NicDraft[]): void {
  const mine = own.flatMap((nic) => nic.cidrs.map((c) => c.cidr));
  const nextHop = (at: Field, family: 4 | 6 | null): string | undefined => {
    const text = r.string(at, 'an address', 64);
    if (text === undefined) return undefined;
    if (text.includes('/')) {
      r.error(at, 'bad-address', `a next hop is an address, not a prefix: '${text}'`);
      return undefined;
    }
    const cidr = parseCidr(text);
    if (typeof cidr === 'string') return r.error(at, 'bad-address', cidr), undefined;
    if (family !== null && cidr.family !== family) {
      r.error(at, 'bad-address', family === 4 ? `'${text}' is IPv6: write it as gateway6` : `'${text}' is IPv4: write it as gateway`);
      return undefined;
    }
    const problem = unicastProblem(cidr);
    if (problem) return r.error(at, 'bad-address', `${text} ${problem}`), undefined;
    if (mine.some((m) => sameAddress(m, cidr))) return r.error(at, 'bad-address', `${text} is this VM's own address`), undefined;
    const subnets = mine.filter((m) => m.family === cidr.family);
    if (!subnets.some((m) => inSubnet(cidr, m))) {
      const have = subnets.map((m) => formatCidr(networkOf(m))).join(', ');
      r.error(at, 'bad-address', `${text} is not on any of ${vm.name}'s subnets (${have || `no IPv${cidr.family} address`})`);
      return undefined;
    }
    return formatAddress(cidr);
  };
  if (r.present(f.gateway)) vm.gateway = nextHop(f.gateway, 4) ?? null;
  if (r.present(f.gateway6)) vm.gateway6 = nextHop(f.gateway6, 6) ?? null;
  if (!r.present(f.routes)) return;
  const seen: Cidr[] = [];
  for (const item of r.list(f.routes, 'routes', LIMITS.routes) ?? []) {
    const rf = r.fields(item, ['to', 'via'] as const, ['to', 'via']);
    if (!rf || !r.present(rf.to) || !r.present(rf.via)) continue;
    const text = r.string(rf.to, 'a network in CIDR form', 64);
    if (text === undefined) continue;
    const to = parseCidr(text);
    if (typeof to === 'string') {
      r.error(rf.to, 'bad-address', to);
      continue;
    }
    if (to.prefix === 0) {
      r.error(rf.to, 'bad-value', `write the default route as ${to.family === 4 ? 'gateway' : 'gateway6'}`);
      continue;
    }
    if (hasHostBits(to)) {
      r.error(rf.to, 'bad-address', `${text} has host bits set (a route goes to a network)`);
      continue;
    }
    if (seen.some((s) => s.prefix === to.prefix && sameAddress(s, to))) {
      r.error(rf.to, 'duplicate', `a second route to ${formatCidr(to)}`);
      continue;
    }
    seen.push(to);
    const via = nextHop(rf.via, to.family);
    if (via !== undefined) vm.routes.push({ to: formatCidr(to), via } satisfies PlanRoute);
  }
}

/**
 * A VLAN used by NICs on two switches joined by links is one broadcast
 * domain: every link on the path must carry it, else the two halves never
 * meet (and the file surely meant them to).
 */
function checkVlanReach(r: Reader, nics: NicDraft[], links: Map<string, LinkDraft>, forest: SwitchForest): void {
  const carries = (link: PlanLink, v: number) => vlansOf(link.trunk).includes(v);
  const firstOn = new Map<number, Map<string, NicDraft>>();
  for (const nic of nics) {
    for (const v of vlansOf(nic.plan.vlan)) {
      const seen = firstOn.get(v) ?? new Map<string, NicDraft>();
      firstOn.set(v, seen);
      if (seen.has(nic.plan.switch)) continue;
      for (const [otherSwitch, other] of seen) {
        const path = forest.path(otherSwitch, nic.plan.switch);
        if (!path) continue;
        const blocked = path.find((step) => !carries(links.get(step.edge.name)!.plan, v));
        if (!blocked) continue;
        const link = links.get(blocked.edge.name)!.plan;
        const carried = link.trunk ? `carries VLANs ${vlansOf(link.trunk).join(', ')}` : 'carries untagged frames only (add a trunk)';
        r.error(nic.vlanAt, 'vlan-not-carried', `${describeVlan(v)} also on switch '${otherSwitch}' (${other.at.path}), but link '${link.name}' between them ${carried}`);
        break;
      }
      seen.set(nic.plan.switch, nic);
    }
  }
}

/** No address twice among switches joined by links (separate islands may reuse private ranges). */
function checkAddresses(r: Reader, nics: NicDraft[], forest: SwitchForest): void {
  const owners = new Map<string, string>();
  for (const nic of nics) {
    const domain = forest.components.find(nic.plan.switch);
    for (const { cidr, at } of nic.cidrs) {
      const key = `${domain}|${formatAddress(cidr)}`;
      const owner = owners.get(key);
      if (owner) r.error(at, 'duplicate', `${formatAddress(cidr)} is also ${owner}'s (same network)`);
      else owners.set(key, nic.at.path);
    }
  }
}
