// vmswitch as a library (package.json "exports" points here):
//
//   import { Lab, Switch, VirtualMachine, AclFilter } from 'vmswitch';
//   const lab = new Lab();                                // a switch: capture (paused), ACL, MAC learning
//   lab.on('oid', (e) => console.log(e.vm, e.oid, e.portId, e.status));
//   await lab.start('a', { nics: ['e1000'] });            // 10.0.0.1/24; every VM's name resolves in every guest
//   await lab.start('b', { nics: ['virtio'] });           // 10.0.0.2/24
//   const { output, exitCode } = await lab.exec('a', 'ping -c 3 b');
//   await lab.stop('b');                                   // NIC_DISCONNECT, drain, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE
//   console.log(lab.ports());                              // per-port counters, deleted ports included
//   await lab.close();
//
// The switch alone (no emulator) is documented in host/index.ts, the VM
// runtime in emulator/vm.ts, the Lab in host/lab/lab.ts.
export * from './host/index.ts';
export { captureToFile } from './host/extensions/capture/file.ts';
export type { FileCapture } from './host/extensions/capture/file.ts';
export { SwitchPortAttachment, NicAttachError, switchAttacher, portTypeFor } from './host/attach.ts';
export * from './host/lab/index.ts';
export { VirtualMachine, defaultMac, ExecTimeoutError, ShellClosedError } from './emulator/vm.ts';
export type { VmOptions, NicSpec, StartInfo, ExecResult, ExecOptions } from './emulator/vm.ts';
export { connectWire } from './emulator/net/wire.ts';
export type { WireHandle, WireOptions } from './emulator/net/wire.ts';
export { NIC_MODELS } from './emulator/net/nic.ts';
export type { GuestNic, NicModel, NicDriverEvent, NicCounters } from './emulator/net/nic.ts';
export type { Frame, FrameSink } from './emulator/net/frame.ts';
