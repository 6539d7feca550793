// The Lab: VMs on one extensible switch (see lab.ts for the API in brief).
export { Lab, LabVm } from './lab.ts';
export { LabError } from './errors.ts';
export type { LabErrorCode } from './errors.ts';
export type { LabOptions, LabVmOptions, LabNicSpec, LabVmState, LabOidEvent, LabVmEvent, LabFaultEvent, LabEvents } from './lab.ts';
export type { LabPortRow } from './port-records.ts';
export { launchVirtualMachine } from './guest.ts';
export type { LabGuest, GuestLaunch, LaunchGuest, GuestExecResult, VmThreadPlacement } from './guest.ts';
export { formatOidLine, formatPortTable, oidLogRecord, shortOid, makeStyle } from './format.ts';
export type { Style } from './format.ts';
