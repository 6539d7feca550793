// `vmswitch lab`: a lab file's switches, links and VMs (or VMs on one
// extensible switch), steps run in command-line order, every OID printed as
// it happens, per-port counters at the end.
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { once } from 'node:events';
import type { Command } from '../main.ts';
import { UsageError } from '../args.ts';
import { readLabFileForCommand } from '../read-lab-file.ts';
import { LAB_USAGE, checkStepNames, parseLabArgs, type LabPlan, type LabStep } from '../lab-plan.ts';
import type { Lab } from '../../host/lab/index.ts';
import type { LabTopology } from '../../host/lab/topology.ts';
import type { LabPlan as LabFilePlan } from '../../host/lab/file/index.ts';
import { attachConsole } from '../console-attach.ts';
import { formatEndpoint } from '../../host/uplink/vxlan.ts';
import { formatUplinkSummary } from '../../host/uplink/summary.ts';
import { labIdForFile } from '../../host/lab/uplinks.ts';

const EXEC_TIMEOUT_MS = 600_000;

export const command: Command = {
  summary: 'a lab file (switches, links, VMs) or VMs on one switch: run steps, print the OID lifecycle and counters',
  async run(argv) {
    const plan = parseLabArgs(argv);
    if (plan === 'help') {
      console.log(LAB_USAGE);
      return 0;
    }
    return runLab(plan);
  },
};

async function openOutput(path: string, flag: string): Promise<WriteStream> {
  const stream = createWriteStream(path);
  try {
    await once(stream, 'open');
  } catch (error) {
    throw new UsageError(`vmswitch lab: ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return stream;
}

/** Reads and validates the lab file; a problem becomes a one-line usage error naming the file, line and field. */
async function readLabFile(plan: LabPlan): Promise<LabFilePlan> {
  const { plan: labPlan } = await readLabFileForCommand('lab', plan.file!);
  checkStepNames(plan, { vms: labPlan.vms.map((vm) => ({ name: vm.name, nics: vm.nics.map((nic) => nic.name) })), links: labPlan.links.map((link) => link.name) });
  return labPlan;
}

export async function runLab(plan: LabPlan): Promise<number> {
  const labFile = plan.file !== undefined ? await readLabFile(plan) : undefined;
  const { Lab, formatOidLine, formatPortTable, oidLogRecord, makeStyle } = await import('../../host/lab/index.ts');
  const { captureToFile } = await import('../../host/extensions/capture/file.ts');
  const style = makeStyle(process.stdout.isTTY === true && !process.env.NO_COLOR);
  const oidLog = plan.oidLog !== undefined ? await openOutput(plan.oidLog, '--oid-log') : undefined;
  let pcap: ReturnType<typeof captureToFile> | undefined;
  if (plan.pcap !== undefined) {
    try {
      pcap = captureToFile(plan.pcap);
    } catch (error) {
      oidLog?.end();
      throw new UsageError(`vmswitch lab: --pcap ${plan.pcap}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  let uplink: import('../../host/uplink/vxlan-socket.ts').VxlanSocketUplink | undefined;
  if (plan.vxlan) {
    const { VxlanSocketUplink } = await import('../../host/uplink/vxlan-socket.ts');
    try {
      uplink = await VxlanSocketUplink.open(plan.vxlan);
    } catch (error) {
      pcap?.close();
      oidLog?.end();
      throw new UsageError(`vmswitch lab: --vxlan: ${(error as Error).message}`);
    }
  }
  const labOptions = {
    template: !plan.cold,
    ...(plan.labId !== undefined ? { labId: plan.labId } : labFile ? { labId: labIdForFile(resolve(plan.file!)) } : {}),
    ...(plan.vmMtu !== undefined ? { vmMtu: plan.vmMtu } : {}),
  };
  let topo: LabTopology | undefined;
  if (labFile) {
    const { LabTopology } = await import('../../host/lab/topology.ts');
    const base = dirname(resolve(plan.file!));
    try {
      topo = await LabTopology.create(labFile, {
        ...labOptions,
        openCapture: (file, options) => captureToFile(resolve(base, file), options),
        openUplink: async (switchName, config) => {
          const { VxlanSocketUplink } = await import('../../host/uplink/vxlan-socket.ts');
          try {
            return await VxlanSocketUplink.open(config);
          } catch (error) {
            throw new UsageError(`vmswitch lab: switch ${switchName}: uplink: ${(error as Error).message}`);
          }
        },
      });
    } catch (error) {
      await uplink?.close();
      oidLog?.end();
      throw error;
    }
  }
  const lab = topo?.lab ?? new Lab({ ...labOptions, ...(pcap ? { capture: pcap.capture } : {}) });
  if (pcap) pcap.capture.enabled = true;
  const began = Date.now();
  lab.on('oid', (event) => {
    console.log(formatOidLine(event, began, style));
    oidLog?.write(`${JSON.stringify(oidLogRecord(event))}\n`);
  });
  lab.on('progress', (event) => process.stderr.write(`vmswitch: ${event.vm ? `${event.vm}: ` : ''}${event.message}\n`));
  lab.on('vm', (event) => {
    if (event.state === 'stopped' && event.detail?.startsWith('guest ')) console.log(style.bold(`${event.vm}: stopped (${event.detail})`));
  });

  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nvmswitch: interrupted; stopping the VMs (again to quit at once)\n');
    void lab.close();
  };
  process.on('SIGINT', onSignal);

  let ok = true;
  try {
    if (uplink) {
      await lab.attachUplink(uplink);
      console.log(style.bold(`== uplink ${uplink.description} -> ${plan.vxlan!.peers.map(formatEndpoint).join(', ')} (MTU ${uplink.mtu}, lab id ${lab.labId})`));
    }
    if (topo) {
      for (const link of topo.links.values()) console.log(style.bold(`== link ${link.name}: ${link.ends.map((end) => `${end.switch.name} port ${end.portId}`).join(' <-> ')}`));
      console.log(style.bold(`== start ${topo.plan.vms.map((vm) => vm.name).join(', ')}`));
      try {
        await topo.start();
        const results = await topo.runCommands({
          timeoutMs: EXEC_TIMEOUT_MS,
          onResult: (result) => {
            console.log(style.bold(`== ${result.vm}$ ${result.command}`));
            process.stdout.write(result.output);
            if (result.output && !result.output.endsWith('\n')) process.stdout.write('\n');
            if (result.exitCode !== 0) console.log(style.red(`(exit status ${result.exitCode})`));
          },
        });
        if (results.some((result) => result.exitCode !== 0)) ok = false;
      } catch (error) {
        console.log(style.red(`start failed: ${(error as Error).message}`));
        ok = false;
      }
    }
    for (const spec of plan.vms) lab.define(spec.name, { nics: spec.models.map((model, i) => ({ model, ...(i === 0 ? { ip: spec.ip } : {}) })) });
    for (const spec of plan.vms) {
      if (interrupted) break;
      console.log(style.bold(`== start ${spec.name} (${spec.models.join(' + ')}, ${spec.ip})`));
      try {
        await lab.start(spec.name);
      } catch (error) {
        console.log(style.red(`start ${spec.name} failed: ${(error as Error).message}`));
        ok = false;
        break;
      }
    }
    for (const [index, step] of plan.steps.entries()) {
      if (!ok || interrupted) {
        const left = plan.steps.length - index;
        if (left && !interrupted) console.log(style.dim(`(skipping the remaining ${left} step${left === 1 ? '' : 's'})`));
        break;
      }
      ok = await runStep(lab, topo, step, style);
    }
    if (ok && !interrupted && plan.console !== undefined) await attachVmConsole(lab, plan.console);
  } finally {
    process.off('SIGINT', onSignal);
    console.log(style.bold('== stop'));
    await (topo ? topo.close() : lab.close());
    console.log(style.bold('== per-port counters (rx: from the VM into the switch, tx: from the switch to the VM)'));
    console.log(formatPortTable(lab.ports(), style));
    if (uplink) console.log(formatUplinkSummary(uplink, lab.externalPort));
    pcap?.close();
    if (oidLog) {
      oidLog.end();
      await once(oidLog, 'finish').catch(() => undefined);
    }
  }
  if (interrupted) return 130;
  return ok ? 0 : 1;
}

async function runStep(lab: Lab, topo: LabTopology | undefined, step: LabStep, style: ReturnType<typeof import('../../host/lab/format.ts').makeStyle>): Promise<boolean> {
  switch (step.kind) {
    case 'impair': {
      const target = 'link' in step.target ? `link ${step.target.link}` : `${step.target.vm}.${step.target.nic}`;
      console.log(style.bold(`== impair ${target}: ${step.impairment ? JSON.stringify(step.impairment) : 'none'}`));
      try {
        if (!topo) throw new Error('no lab file');
        if ('link' in step.target) {
          const link = topo.plan.links.find((l) => l.name === (step.target as { link: string }).link)!;
          topo.setImpairment(step.target, Object.fromEntries(link.ends.map((end) => [end.switch, step.impairment])));
        } else {
          topo.setImpairment(step.target, { send: step.impairment, receive: step.impairment });
        }
        return true;
      } catch (error) {
        console.log(style.red(`impair failed: ${(error as Error).message}`));
        return false;
      }
    }
    case 'exec': {
      console.log(style.bold(`== ${step.vm}$ ${step.command}`));
      try {
        const result = await lab.exec(step.vm, step.command, { timeoutMs: EXEC_TIMEOUT_MS });
        process.stdout.write(result.output);
        if (result.output && !result.output.endsWith('\n')) process.stdout.write('\n');
        if (result.exitCode === 0) return true;
        console.log(style.red(`(exit status ${result.exitCode})`));
        return false;
      } catch (error) {
        // `poweroff` ends the shell with the VM: not a failure when the lab saw the guest power down.
        if (lab.vm(step.vm)?.poweredOff) {
          await lab.vm(step.vm)!.busy;
          return true;
        }
        console.log(style.red(`exec failed: ${(error as Error).message}`));
        return false;
      }
    }
    case 'stop':
    case 'start':
      console.log(style.bold(`== ${step.kind} ${step.vm}`));
      try {
        await (step.kind === 'stop' ? lab.stop(step.vm) : lab.start(step.vm));
        return true;
      } catch (error) {
        console.log(style.red(`${step.kind} ${step.vm} failed: ${(error as Error).message}`));
        return false;
      }
    case 'sleep':
      console.log(style.dim(`== sleep ${step.ms} ms`));
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      return true;
  }
}

/** The terminal on a VM's serial console until Ctrl-] (or the end of piped input, or the VM stopping). */
async function attachVmConsole(lab: Lab, name: string): Promise<void> {
  const vm = lab.vm(name);
  const guest = vm?.guest;
  const write = guest?.console.write?.bind(guest.console);
  if (!vm || vm.state !== 'running' || !guest || !write) {
    console.log(`(no console: ${name} is ${vm?.state ?? 'not defined'})`);
    return;
  }
  await attachConsole(
    { onData: (listener) => guest.console.onData(listener), write },
    {
      banner: `vmswitch: ${name}'s console; press Ctrl-] to quit`,
      endWhen: (finish) =>
        lab.on('vm', (event) => {
          if (event.vm === name && event.state === 'stopping') finish();
        }),
    },
  );
}
