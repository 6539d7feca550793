// The Lab: VMs on one extensible switch (see lab.ts for the API in brief).
export { Lab, LabVm } from './lab.ts';
export { launchVirtualMachine } from './guest.ts';
export { formatOidLine, formatPortTable, oidLogRecord, shortOid, makeStyle } from './format.ts';
