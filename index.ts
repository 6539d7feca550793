// vmswitch as a library (package.json "exports" points here).
//
// VMs whose NICs are ports of a switch you own:
//
//   import { Switch, VirtualMachine } from 'vmswitch';
//   const sw = new Switch({ name: 'lab' });               // default stack: MAC-learning forwarding
//   sw.on('oid', (e) => console.log(e.time, e.oid, e.portId, e.nicIndex, e.status, e.vetoedBy));
//   const hosts = { a: '10.0.0.1', b: '10.0.0.2' };       // the only way guests resolve each other's names here
//   const a = await VirtualMachine.start({ name: 'a', nics: [{ model: 'e1000', switch: sw, ip: '10.0.0.1/24' }], hosts, template: true });
//   const b = await VirtualMachine.start({ name: 'b', nics: [{ model: 'virtio', switch: sw, ip: '10.0.0.2/24' }], hosts, template: true });
//   // each start resolved after PORT_CREATE, NIC_CREATE, NIC_CONNECT (a veto: NicAttachError naming the extension, VM stopped)
//   const { output, exitCode } = await a.exec('ping -c 3 b');
//   console.log(a.attachments[0]?.label, sw.ports());      // "port 1"; per-port counters
//   await b.stop();                                        // NIC_DISCONNECT, drain, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE; then the VM
//   await a.stop();                                        // (a guest `poweroff` runs the same stop lifecycle)
//
// The Lab does that orchestration for named VMs, with more (every VM's name
// resolves in every guest, VLAN per NIC, capture and ACL, counters of deleted ports):
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
// Each Lab VM runs in its own worker thread (a fault domain; `new Lab({ thread: 'main' })`
// keeps them on this thread). One VM in its own thread without a Lab:
//
//   const vm = await startVmThread({ name: 'a', nics: [{ model: 'e1000' }], ip: ['10.0.0.1/24'], template: true });
//   vm.nics[0];                                            // a GuestNic mirror: attach it to a switch like any NIC
//   await vm.exec('uname -a'); await vm.saveSnapshot(); await vm.stop();
//
// The switch alone (no emulator) is documented in host/index.ts, the VM
// runtime in emulator/vm.ts, the Lab in host/lab/lab.ts.
export * from './host/index.ts';
export { captureToFile } from './host/extensions/capture/file.ts';
export type { FileCapture } from './host/extensions/capture/file.ts';
export { SwitchPortAttachment, NicAttachError, switchAttacher, portTypeFor } from './host/attach.ts';
export * from './host/lab/index.ts';
export { VirtualMachine, defaultMac, ExecTimeoutError, ShellClosedError } from './emulator/vm.ts';
export type { VmOptions, NicSpec, StartInfo, VmEnd, ExecResult, ExecOptions } from './emulator/vm.ts';
export { startVmThread, v86WasmModule, DEFAULT_RESOURCE_LIMITS } from './emulator/worker/node-launch.ts';
export type { NodeVmThreadOptions } from './emulator/worker/node-launch.ts';
export { VmThread, VmThreadError, VmThreadStartError } from './emulator/worker/vm-thread.ts';
export type { VmThreadEnd, ThreadHandle } from './emulator/worker/vm-thread.ts';
export type { VmThreadOptions } from './emulator/worker/protocol.ts';
export { connectWire } from './emulator/net/wire.ts';
export type { WireHandle, WireOptions } from './emulator/net/wire.ts';
export { NIC_MODELS } from './emulator/net/nic.ts';
export type { GuestNic, NicModel, NicDriverEvent, NicCounters, NicAttacher, NicAttachment, NicAttachInfo } from './emulator/net/nic.ts';
export type { Frame, FrameSink } from './emulator/net/frame.ts';
export { RX_DROP_REASONS, GUEST_ERROR_REASONS, OFFLOAD_ERROR_REASONS, WIRE_DROP_REASONS } from './emulator/net/drop-reasons.ts';
export type { RxDropReason, GuestErrorReason, OffloadErrorReason, WireDropReason } from './emulator/net/drop-reasons.ts';
