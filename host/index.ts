// vmswitch host side: a Hyper-V-style extensible switch in plain TypeScript
// (no emulator, no Node-only APIs except capture/file.ts).
//
//   const sw = new Switch({ name: 'lab', clock?, extensions?, nicDrainTimeoutMs?, portDrainTimeoutMs? });
//     // default stack: one MacLearningForwarder; pass `extensions` to choose
//     // (e.g. [new PcapngCapture(), new AclFilter({ rules }), new MacLearningForwarder()]).
//   sw.on('oid',   e => ...)  // { time, oid: 'OID_SWITCH_PORT_CREATE' | ..., portId, nicIndex?, status: 'success'|'vetoed'|'failed', vetoedBy?, detail?, errors? }
//   sw.on('drop',  e => ...)  // { time, portId, nicIndex?, reason, count }   (aggregated per batch)
//   sw.on('state', e => ...)  // { time, object: 'port'|'nic', portId, nicIndex?, from, to }
//   sw.on('error', e => ...)  // an extension threw: { time, extension, phase, message }
//   sw.on('timeout', e => ...) // a drain wait gave up: { time, wait: 'nic-drain'|'port-drain', portId, nicIndex?, references, timeoutMs }
//
//   VM start:
//   const port = await sw.createPort({ type: 'emulated'|'synthetic'|'external'|'internal'|'generic', name?, id?, properties? }); // PORT_CREATE (vetoable)
//   const nic  = await sw.createNic(port.id, { index?: 0, type, mac, mtu?, friendlyName?, sink });                           // NIC_CREATE (vetoable)
//   await sw.connectNic(port.id, 0);                                     // NIC_CONNECT: from now on frames flow both ways
//   sw.ingress(port.id, 0, frames)  or  guestNic.setTransmitSink(sw.ingressSink(port.id, 0));
//   // frames for the guest arrive in batches at `sink.deliver(frames)`, offload metadata untouched
//   // (a GSO frame is measured against the MTU by headerLength + segmentSize; the switch never segments).
//
//   VM stop: await sw.stopPort(port.id)
//     = disconnectNic -> (wait: frames/OIDs in flight, references; bounded, 'timeout' event) -> deleteNic
//       -> teardownPort -> (wait) -> deletePort. Each step is also callable on its own.
//   Also: updatePort, updateNic (NIC_UPDATED), add/update/deletePortProperty (VLAN, security, custom),
//   saveNic / restoreNic (NIC_SAVE[_COMPLETE], NIC_RESTORE[_COMPLETE]), counters(portId?), ports(),
//   addExtension(ext, position?) / removeExtension(name) / reorderExtensions(kind, names) / extensions().
//   A vetoed or failed OID rejects the call with an OidError (oid, status, vetoedBy, detail); a call the
//   switch refuses before any OID (no such port or NIC, wrong state, duplicate) with a SwitchError (code).
//
// Capture to a file (Node only, so not exported here): import { captureToFile }
// from './extensions/capture/file.ts'; in a browser use PcapngCapture({ write }) or bytes().
//
// Timers: `sw.timers` / `context.timers` (clock.ts) schedule(atMs, fn) / cancel(id) on the switch's clock;
// tests pass `new Switch({ timers: new FakeClock() })` and move time with `advance(ms)`.
// More extensions: ImpairmentExtension (netem per port and direction; add it as the topmost filter),
// DhcpServerExtension, DhcpGuard and RouterGuard (port property allow-dhcp-server / allow-router).
//
// Writing an extension: implement `Extension` (extension.ts) with only the
// callbacks you need; kind 'capture' | 'filter' | 'forwarding' (at most one).
export { Switch } from './switch.ts';
export type { SwitchOptions, CreatePortOptions, NicUpdate, PortSnapshot, SavedNic } from './switch.ts';
export { Emitter } from './events.ts';
export type { SwitchEvents, OidEvent, DropEvent, StateEvent, ErrorEvent, TimeoutEvent } from './events.ts';
export { SwitchError } from './errors.ts';
export type { SwitchErrorCode } from './errors.ts';
export { OidError, VETOABLE_OIDS, PORT_OIDS, NIC_OIDS, NIC_SAVE_OIDS, PROPERTY_OIDS, QUERY_OIDS } from './oid.ts';
export type { OidName, OidRequest, OidReply, OidStatus } from './oid.ts';
export { PORT_TYPES } from './port.ts';
export type { PortType, PortState, PortInfo, PortParameters, PortProperty, SecurityProperty, CustomProperty } from './port.ts';
export { NIC_TYPES, DEFAULT_MTU } from './nic.ts';
export type { NicType, NicState, NicInfo, NicOptions, NicParameters } from './nic.ts';
export { CapabilityError } from './extension.ts';
export type {
  Extension,
  ExtensionKind,
  ExtensionContext,
  BatchView,
  IngressBatch,
  EgressBatch,
  HeldFrame,
  InjectOptions,
  InjectResult,
  NicRef,
  SwitchParameters,
} from './extension.ts';
export type { PortCounters, SwitchCounters } from './counters.ts';
export { SWITCH_DROP_REASONS, INJECTION_REFUSALS, EXTENSION_DROP_REASONS, DELIVERY_DROP_REASONS } from './drop-reasons.ts';
export type {
  SwitchDropReason,
  ExtensionErrorDropReason,
  InjectionRefusal,
  AclRuleDropReason,
  BuiltInExtensionDropReason,
  ExtensionDropReason,
  DropReason,
  DropCounts,
  DeliveryDropReason,
} from './drop-reasons.ts';
export { frameProblem } from './validate.ts';
export { MacLearningForwarder } from './extensions/mac-learning.ts';
export type { MacLearningOptions, MacEntry } from './extensions/mac-learning.ts';
export { VlanPolicy, vlanPropertyProblem, DEFAULT_VLAN } from './extensions/vlan.ts';
export type { VlanProperty } from './extensions/vlan.ts';
export { AclFilter } from './extensions/acl.ts';
export type { AclRule, AclOptions, AclRuleCounter } from './extensions/acl.ts';
export { PortMirror } from './extensions/mirror.ts';
export type { MirrorSession, MirrorOptions } from './extensions/mirror.ts';
export { PcapngCapture } from './extensions/capture/capture.ts';
export type { CaptureOptions } from './extensions/capture/capture.ts';
export { PcapngWriter } from './extensions/capture/pcapng.ts';
export { TimerScheduler, FakeClock } from './clock.ts';
export type { Scheduler, TimerId } from './clock.ts';
export { ImpairmentExtension, impairmentProblem, DEFAULT_LIMIT_FRAMES } from './extensions/impairment.ts';
export type { Impairment, PortImpairment, ImpairmentOptions, ImpairmentCounters } from './extensions/impairment.ts';
export { DhcpServerExtension, DhcpConfigError } from './extensions/dhcp-server.ts';
export type { DhcpServerOptions, DhcpReservation, DhcpLease, DhcpServerCounters } from './extensions/dhcp-server.ts';
export { parseDhcp, locateDhcp, buildDhcpReply, DhcpType, DhcpOption } from './extensions/dhcp-message.ts';
export type { DhcpMessage, DhcpProblem } from './extensions/dhcp-message.ts';
export {
  DhcpGuard,
  RouterGuard,
  guardClass,
  GuardClass,
  allowDhcpServerProperty,
  allowRouterProperty,
  ALLOW_DHCP_SERVER_PROPERTY,
  ALLOW_ROUTER_PROPERTY,
} from './extensions/guards.ts';
export type { GuardCounters, GuardOptions } from './extensions/guards.ts';
