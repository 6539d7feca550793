// `vmswitch boot`: one VM with an interactive console, or one command run in it.
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from '../main.ts';
import { parseCommandArgs, positiveInt, UsageError } from '../args.ts';
import { NIC_MODELS, type NicModel } from '../../emulator/net/nic.ts';
import { attachConsole } from '../console-attach.ts';

const HELP = `usage: vmswitch boot [--mem MiB] [--snapshot FILE] [--nic MODEL]... [--cold] [--exec CMD [--timeout SEC]] [--save FILE]

Starts the guest (Debian i386 kernel + busybox initramfs) in v86.
Without --exec: an interactive console on this terminal; Ctrl-] quits.
With --exec: runs CMD in the guest's shell, prints its output and exits with
CMD's exit status.

By default the VM starts from a cached template snapshot of the image (made by
one cold boot the first time, kept in $XDG_CACHE_HOME/vmswitch/templates).

options:
  --mem MiB        guest RAM, 80-2048 (default 128)
  --snapshot FILE  start from a snapshot file instead
  --nic MODEL      add a NIC (${NIC_MODELS.join(', ')}); repeat for eth0, eth1, ...
  --cold           boot from the kernel, without a template
  --exec CMD       run CMD and exit with its status
  --timeout SEC    --exec time limit (default 600)
  --save FILE      save a snapshot to FILE when done (after CMD, or when the console closes)
  -h, --help       show this help`;

// The VM's limits, repeated here so that `--mem` errors need no emulator import.
const MIN_MEMORY_MIB = 80;
const MAX_MEMORY_MIB = 2048;

export const command: Command = {
  summary: 'boot a VM: interactive console, or --exec CMD',
  async run(argv) {
    const { values } = parseCommandArgs('boot', argv, {
      mem: { type: 'string' },
      snapshot: { type: 'string' },
      nic: { type: 'string', multiple: true },
      cold: { type: 'boolean' },
      exec: { type: 'string' },
      timeout: { type: 'string' },
      save: { type: 'string' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const memoryMiB = values.mem === undefined ? undefined : positiveInt('boot', 'mem', values.mem, 128);
    // v86 puts the 7 MB initrd high in RAM: 80 MiB boots (tried), 64 does not.
    if (memoryMiB !== undefined && (memoryMiB < MIN_MEMORY_MIB || memoryMiB > MAX_MEMORY_MIB)) {
      throw new UsageError(`vmswitch boot: --mem must be between ${MIN_MEMORY_MIB} and ${MAX_MEMORY_MIB} MiB, not ${memoryMiB}`);
    }
    const timeoutSec = positiveInt('boot', 'timeout', values.timeout, 600);
    if (values.timeout !== undefined && values.exec === undefined) throw new UsageError('vmswitch boot: --timeout only applies to --exec');
    const nics = (values.nic ?? []).map((model) => {
      if (!(NIC_MODELS as readonly string[]).includes(model)) throw new UsageError(`vmswitch boot: unknown NIC model '${model}' (expected ${NIC_MODELS.join(', ')})`);
      return { model: model as NicModel };
    });
    if (values.snapshot !== undefined && values.cold) throw new UsageError('vmswitch boot: --snapshot and --cold exclude each other');
    let snapshot: Uint8Array | undefined;
    if (values.snapshot !== undefined) {
      const { decodeSnapshot } = await import('../../emulator/snapshot.ts');
      try {
        snapshot = new Uint8Array(await readFile(values.snapshot));
        await decodeSnapshot(snapshot);
      } catch (error) {
        throw new UsageError(`vmswitch boot: cannot use snapshot ${values.snapshot}: ${(error as Error).message}`);
      }
    }

    const progress = (line: string): void => void process.stderr.write(`vmswitch: ${line}\n`);
    const { ensureImage } = await import('../../guest-images/index.ts');
    const image = await ensureImage({ log: progress });
    const { VirtualMachine } = await import('../../emulator/vm.ts');
    const vm = await VirtualMachine.start({
      name: 'vm',
      hostname: 'vmswitch',
      image,
      log: progress,
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
      ...(nics.length ? { nics } : {}),
      ...(snapshot !== undefined ? { snapshot } : { template: !values.cold }),
    });
    const save = async (): Promise<void> => {
      if (values.save === undefined) return;
      const bytes = await vm.saveSnapshot();
      const temp = `${values.save}.${process.pid}.tmp`;
      await writeFile(temp, bytes);
      await rename(temp, values.save);
      progress(`snapshot saved to ${values.save} (${(bytes.length / 1e6).toFixed(1)} MB)`);
    };
    try {
      if (values.exec !== undefined) {
        const result = await vm.exec(values.exec, { timeoutMs: timeoutSec * 1000 });
        process.stdout.write(result.output);
        await save();
        return result.exitCode;
      }
      const status = await interactive(vm);
      await save();
      return status;
    } finally {
      await vm.stop();
    }
  },
};

type Vm = Awaited<ReturnType<(typeof import('../../emulator/vm.ts'))['VirtualMachine']['start']>>;

/** Terminal <-> guest console until Ctrl-] (or, without a TTY, until input ends and the guest goes quiet). */
async function interactive(vm: Vm): Promise<number> {
  await attachConsole(vm.console, {
    banner: 'vmswitch: guest console; press Ctrl-] to quit',
    bannerOnTtyOnly: true,
    endWhen: (finish) => {
      process.on('SIGTERM', finish);
      process.on('SIGHUP', finish);
      return () => {
        process.off('SIGTERM', finish);
        process.off('SIGHUP', finish);
      };
    },
  });
  return 0;
}
