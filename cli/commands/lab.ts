// `vmswitch lab`: VMs on one extensible switch, steps run in command-line
// order, every OID printed as it happens, per-port counters at the end.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from '../main.ts';
import { UsageError } from '../args.ts';
import { LAB_USAGE, parseLabArgs, type LabPlan, type LabStep } from '../lab-plan.ts';
import type { Lab } from '../../host/lab/index.ts';
import { attachConsole } from '../console-attach.ts';
import { formatEndpoint } from '../../host/uplink/vxlan.ts';
import { formatUplinkSummary } from '../../host/uplink/summary.ts';

const EXEC_TIMEOUT_MS = 600_000;

export const command: Command = {
  summary: 'VMs on one switch: run steps, print the OID lifecycle and counters',
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

export async function runLab(plan: LabPlan): Promise<number> {
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
  const lab = new Lab({
    template: !plan.cold,
    ...(pcap ? { capture: pcap.capture } : {}),
    ...(plan.labId !== undefined ? { labId: plan.labId } : {}),
    ...(plan.vmMtu !== undefined ? { vmMtu: plan.vmMtu } : {}),
  });
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
      ok = await runStep(lab, step, style);
    }
    if (ok && !interrupted && plan.console !== undefined) await attachVmConsole(lab, plan.console);
  } finally {
    process.off('SIGINT', onSignal);
    console.log(style.bold('== stop'));
    await lab.close();
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

async function runStep(lab: Lab, step: LabStep, style: ReturnType<typeof import('../../host/lab/format.ts').makeStyle>): Promise<boolean> {
  switch (step.kind) {
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
