// `vmswitch lab` arguments -> a plan: the VMs (or a lab file) and the steps,
// in command-line order. Kept apart from running it so that every rule is
// unit-tested.
import { totalmem } from 'node:os';
import { NIC_MODELS, type NicModel } from '../emulator/net/nic.ts';
import { parseImpairmentSpec } from '../host/lab/file/impairment.ts';
import type { Impairment } from '../host/lab/file/schema.ts';
import { UsageError } from './args.ts';
import { parseCidr } from '../host/lab/file/address.ts';
import { VxlanConfigError, parseVxlanSpec, type VxlanConfig } from '../host/uplink/vxlan.ts';

export interface LabVmSpec {
  name: string;
  models: NicModel[];
  /** eth0 address: `@CIDR` in --vm, else the n-th VM gets 10.0.0.n/24. */
  ip: string;
}

export type LabStep =
  | { kind: 'exec'; vm: string; command: string }
  | { kind: 'stop'; vm: string }
  | { kind: 'start'; vm: string }
  | { kind: 'sleep'; ms: number }
  /** Both directions of a VM's NIC (`vm`, `nic`) or of a link (`link`); null clears. */
  | { kind: 'impair'; target: { vm: string; nic: string } | { link: string }; impairment: Impairment | null };

export interface LabPlan {
  /** A lab file instead of --vm (its VMs are checked against the steps once it is read: checkStepNames). */
  file?: string;
  vms: LabVmSpec[];
  steps: LabStep[];
  oidLog?: string;
  pcap?: string;
  console?: string;
  cold: boolean;
  /** --vxlan: the switch's uplink. */
  vxlan?: VxlanConfig;
  /** --lab-id: salts the VMs' MACs (default: random per run). */
  labId?: string;
  /** --mtu: the VMs' MTU (default with --vxlan: the uplink's, 1450). */
  vmMtu?: number;
}

const VM_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const GUEST_MIB = 128;
/** 10.0.0.n/24 for n = 1..254. */
const MAX_ADDRESSED_VMS = 254;

/** As many --vm as the machine holds at the default 128 MiB each (at least one), and no more than 10.0.0.0/24 numbers. */
export function defaultMaxVms(totalBytes = totalmem()): number {
  return Math.max(1, Math.min(MAX_ADDRESSED_VMS, Math.floor(totalBytes / (GUEST_MIB * 1024 * 1024))));
}

function fail(message: string): never {
  throw new UsageError(`vmswitch lab: ${message}`);
}

/** Splits `NAME:REST` at the first colon. */
function splitNamed(flag: string, value: string | undefined): [string, string] {
  if (value === undefined) fail(`${flag} needs a value`);
  const colon = value.indexOf(':');
  if (colon <= 0) fail(`${flag} takes NAME:..., not '${value}'`);
  return [value.slice(0, colon), value.slice(colon + 1)];
}

export function parseLabArgs(argv: string[], options: { maxVms?: number } = {}): LabPlan | 'help' {
  const maxVms = options.maxVms ?? defaultMaxVms();
  const plan: LabPlan = { vms: [], steps: [], cold: false };
  const known = (name: string) => plan.vms.some((vm) => vm.name === name);
  // With --file the VMs are in the file: checkStepNames checks the steps once it is read.
  const requireVm = (flag: string, name: string) => {
    if (!VM_NAME.test(name)) fail(`${flag}: '${name}' is not a VM name`);
    if (plan.file === undefined && !argv.includes('--file') && !known(name)) fail(`${flag} names '${name}', which no --vm defines (VMs must be defined before the steps that use them)`);
  };

  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) fail(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--vm': {
        const [name, rest] = splitNamed(flag, value());
        if (!VM_NAME.test(name)) fail(`VM name '${name}' must be lower-case letters, digits and '-', starting with a letter`);
        if (known(name)) fail(`VM '${name}' is defined twice`);
        if (plan.vms.length >= maxVms) fail(`at most ${maxVms} VMs (this machine's RAM at ${GUEST_MIB} MiB each)`);
        const at = rest.indexOf('@');
        const models = at < 0 ? rest : rest.slice(0, at);
        const ip = at < 0 ? `10.0.0.${plan.vms.length + 1}/24` : vmAddress(name, rest.slice(at + 1));
        const list = models.split('+');
        for (const model of list) {
          if (!(NIC_MODELS as readonly string[]).includes(model)) fail(`unknown NIC model '${model}' in --vm ${name} (expected ${NIC_MODELS.join(' or ')})`);
        }
        plan.vms.push({ name, models: list as NicModel[], ip });
        break;
      }
      case '--exec': {
        const [vm, command] = splitNamed(flag, value());
        requireVm(flag, vm);
        if (!command.trim()) fail(`--exec ${vm}: needs a command`);
        plan.steps.push({ kind: 'exec', vm, command });
        break;
      }
      case '--stop':
      case '--start': {
        const vm = value();
        requireVm(flag, vm);
        plan.steps.push({ kind: flag === '--stop' ? 'stop' : 'start', vm });
        break;
      }
      case '--sleep': {
        const ms = value();
        if (!/^[0-9]{1,7}$/.test(ms)) fail(`--sleep takes milliseconds (0-9999999), not '${ms}'`);
        plan.steps.push({ kind: 'sleep', ms: Number(ms) });
        break;
      }
      case '--file': {
        if (plan.file !== undefined) fail('--file is given twice');
        plan.file = value();
        break;
      }
      case '--impair': {
        plan.steps.push(parseImpairArg(value(), requireVm));
        break;
      }
      case '--oid-log':
        plan.oidLog = value();
        break;
      case '--pcap':
        plan.pcap = value();
        break;
      case '--console': {
        const vm = value();
        requireVm(flag, vm);
        plan.console = vm;
        break;
      }
      case '--cold':
        plan.cold = true;
        break;
      case '--vxlan': {
        if (plan.vxlan) fail('--vxlan given twice (a switch has one external port)');
        const spec = value();
        try {
          plan.vxlan = parseVxlanSpec(spec);
        } catch (error) {
          if (error instanceof VxlanConfigError) fail(error.message);
          throw error;
        }
        break;
      }
      case '--lab-id': {
        const id = value();
        if (!/^[A-Za-z0-9._:/-]{1,200}$/.test(id)) fail(`--lab-id takes letters, digits and . _ : / - (at most 200), not '${id}'`);
        plan.labId = id;
        break;
      }
      case '--mtu': {
        const mtu = value();
        if (!/^\d{2,5}$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 65535) fail(`--mtu takes 68-65535, not '${mtu}'`);
        plan.vmMtu = Number(mtu);
        break;
      }
      default:
        fail(flag.startsWith('-') ? `unknown option '${flag}'` : `unexpected argument '${flag}'`);
    }
  }
  if (plan.file !== undefined && plan.vms.length) fail('--file and --vm do not mix (a lab file names its own VMs)');
  if (plan.file !== undefined && plan.pcap !== undefined) fail("--pcap captures the one switch of the --vm form; a lab file sets 'capture' per switch");
  if (plan.file === undefined && !plan.vms.length) fail('needs --file LAB.yaml or at least one --vm NAME:MODEL[+MODEL...]');
  if (plan.file === undefined) {
    const impair = plan.steps.find((step) => step.kind === 'impair');
    if (impair) fail('--impair needs a lab file (--file): the --vm form has no impairment extension');
  }
  return plan;
}

/** The `@CIDR` of --vm: an address with its prefix length. */
function vmAddress(name: string, text: string): string {
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') fail(`--vm ${name}: ${cidr}`);
  if (!text.includes('/')) fail(`--vm ${name}: '${text}' needs a prefix length, e.g. ${text}/24`);
  return text;
}

/** `NAME:ETH=SPEC` (a VM's NIC) or `LINK=SPEC` (a link of the lab file). */
function parseImpairArg(text: string, requireVm: (flag: string, name: string) => void): LabStep {
  const eq = text.indexOf('=');
  if (eq <= 0) fail(`--impair takes VM:ethN=SPEC or LINK=SPEC (e.g. a:eth0=delay=50ms,loss=5%), not '${text}'`);
  const where = text.slice(0, eq);
  const impairment = parseImpairmentSpec(text.slice(eq + 1));
  if (typeof impairment === 'string') fail(`--impair ${where}: ${impairment}`);
  const colon = where.indexOf(':');
  if (colon < 0) {
    if (!VM_NAME.test(where)) fail(`--impair: '${where}' is not a link name`);
    return { kind: 'impair', target: { link: where }, impairment };
  }
  const vm = where.slice(0, colon);
  const nic = where.slice(colon + 1);
  requireVm('--impair', vm);
  if (!/^eth[0-9]$/.test(nic)) fail(`--impair ${where}: '${nic}' is not a NIC (eth0..eth7)`);
  return { kind: 'impair', target: { vm, nic }, impairment };
}

/** With --file: every VM, NIC and link the steps name must be in the file. Throws a UsageError naming the first that is not. */
export function checkStepNames(plan: LabPlan, lab: { vms: { name: string; nics: string[] }[]; links: string[] }): void {
  const vmOf = (name: string) => lab.vms.find((vm) => vm.name === name);
  const needVm = (flag: string, name: string) => {
    const vm = vmOf(name);
    if (!vm) fail(`${flag} names '${name}', which ${plan.file} does not define (its VMs: ${lab.vms.map((v) => v.name).join(', ') || 'none'})`);
    return vm;
  };
  for (const step of plan.steps) {
    if (step.kind === 'sleep') continue;
    if (step.kind !== 'impair') {
      needVm(`--${step.kind}`, step.vm);
      continue;
    }
    const target = step.target;
    if ('link' in target) {
      if (!lab.links.includes(target.link)) fail(`--impair names link '${target.link}', which ${plan.file} does not define (its links: ${lab.links.join(', ') || 'none'})`);
    } else if (!needVm('--impair', target.vm).nics.includes(target.nic)) {
      fail(`--impair: VM '${target.vm}' has no ${target.nic}`);
    }
  }
  if (plan.console !== undefined) needVm('--console', plan.console);
}

export const LAB_USAGE = `usage: vmswitch lab --file LAB.yaml [steps] [options]
       vmswitch lab --vm NAME:MODEL[+MODEL...][@CIDR]... [steps] [options]

Starts a lab file's switches, links and VMs (each VM's commands run once all
are up), or VMs on one extensible switch (the n-th --vm gets 10.0.0.n/24 on
eth0 unless @CIDR says otherwise); every VM's name resolves in every guest.
Then runs the steps in command-line order, prints each OID as it happens and
the per-port counters at the end.

  --file LAB.yaml     a lab file (YAML or JSON; see examples/)
  --vm NAME:MODELS[@CIDR]  a VM; MODELS is e1000 or virtio, joined by + for more
                      NICs; CIDR is eth0's address (e.g. a:virtio@10.0.0.11/24)
steps:
  --impair NAME:ETH=SPEC  impair a VM's NIC both ways (SPEC: delay=50ms,jitter=5ms,
                      loss=5%,duplicate=1%,reorder=25%,rate=1mbit,limit=1000,down=true,
                      or none); --impair LINK=SPEC a link of the lab file
  --exec NAME:CMD     run CMD in VM NAME (the run fails if CMD exits non-zero)
  --stop NAME         stop VM NAME (NIC_DISCONNECT ... PORT_DELETE)
  --start NAME        start VM NAME again (a new port)
  --sleep MS          wait MS milliseconds
options:
  --oid-log FILE      write every OID event as a JSON line
  --pcap FILE         capture the whole switch to a pcapng file
  --console NAME      attach to VM NAME's console after the steps (Ctrl-] quits)
  --cold              cold-boot instead of starting from the template snapshot
  --vxlan VNI@[LOCAL:]PORT=PEER:PORT[,PEER:PORT...]
                      join the switch to other labs or VTEPs over VXLAN (RFC 7348)
                      through its external port; LOCAL defaults to 127.0.0.1,
                      IPv6 in brackets ([::1]:4789); the peers are the allowlist
  --lab-id ID         salts the VMs' MACs (default random): two labs joined by
                      --vxlan must differ; keep one ID to keep the MACs
  --mtu N             the VMs' MTU (default with --vxlan: 1450, 1430 over IPv6)

Exit status: 0 when every step succeeded, 1 when one failed, 2 for bad arguments.`;
