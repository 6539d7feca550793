// `vmswitch lab` arguments -> a plan: the VMs and the steps, in command-line
// order. Kept apart from running it so that every rule is unit-tested.
import { NIC_MODELS, type NicModel } from '../emulator/net/nic.ts';
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
  | { kind: 'sleep'; ms: number };

export interface LabPlan {
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
const MAX_VMS = 8;

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

export function parseLabArgs(argv: string[]): LabPlan | 'help' {
  const plan: LabPlan = { vms: [], steps: [], cold: false };
  const known = (name: string) => plan.vms.some((vm) => vm.name === name);
  const requireVm = (flag: string, name: string) => {
    if (!known(name)) fail(`${flag} names '${name}', which no --vm defines (VMs must be defined before the steps that use them)`);
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
        if (plan.vms.length >= MAX_VMS) fail(`at most ${MAX_VMS} VMs`);
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
  if (!plan.vms.length) fail('needs at least one --vm NAME:MODEL[+MODEL...]');
  return plan;
}

/** The `@CIDR` of --vm: an address with its prefix length. */
function vmAddress(name: string, text: string): string {
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') fail(`--vm ${name}: ${cidr}`);
  if (!text.includes('/')) fail(`--vm ${name}: '${text}' needs a prefix length, e.g. ${text}/24`);
  return text;
}

export const LAB_USAGE = `usage: vmswitch lab --vm NAME:MODEL[+MODEL...][@CIDR]... [steps] [options]

Starts the VMs on one extensible switch (the n-th VM gets 10.0.0.n/24 on eth0
unless @CIDR says otherwise; every VM's name resolves in every guest), runs the
steps in command-line order, prints each OID as it happens and the per-port
counters at the end.

  --vm NAME:MODELS[@CIDR]  a VM; MODELS is e1000 or virtio, joined by + for more
                      NICs; CIDR is eth0's address (e.g. a:virtio@10.0.0.11/24)
steps:
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
