// `vmswitch lab` arguments -> a plan: the VMs and the steps, in command-line
// order. Kept apart from running it so that every rule is unit-tested.
import { NIC_MODELS, type NicModel } from '../emulator/net/nic.ts';
import { UsageError } from './args.ts';

export interface LabVmSpec {
  name: string;
  models: NicModel[];
  /** eth0 address: the n-th VM gets 10.0.0.n/24. */
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
        const [name, models] = splitNamed(flag, value());
        if (!VM_NAME.test(name)) fail(`VM name '${name}' must be lower-case letters, digits and '-', starting with a letter`);
        if (known(name)) fail(`VM '${name}' is defined twice`);
        if (plan.vms.length >= MAX_VMS) fail(`at most ${MAX_VMS} VMs`);
        const list = models.split('+');
        for (const model of list) {
          if (!(NIC_MODELS as readonly string[]).includes(model)) fail(`unknown NIC model '${model}' in --vm ${name} (expected ${NIC_MODELS.join(' or ')})`);
        }
        plan.vms.push({ name, models: list as NicModel[], ip: `10.0.0.${plan.vms.length + 1}/24` });
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
      default:
        fail(flag.startsWith('-') ? `unknown option '${flag}'` : `unexpected argument '${flag}'`);
    }
  }
  if (!plan.vms.length) fail('needs at least one --vm NAME:MODEL[+MODEL...]');
  return plan;
}

export const LAB_USAGE = `usage: vmswitch lab --vm NAME:MODEL[+MODEL...]... [steps] [options]

Starts the VMs on one extensible switch (the n-th VM gets 10.0.0.n/24 on eth0;
every VM's name resolves in every guest), runs the steps in command-line order,
prints each OID as it happens and the per-port counters at the end.

  --vm NAME:MODELS    a VM; MODELS is e1000 or virtio, joined by + for more NICs
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

Exit status: 0 when every step succeeded, 1 when one failed, 2 for bad arguments.`;
