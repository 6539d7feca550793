// The page joins `vmswitch web --shared`: a WebSocket to the server's shared
// switch behind this page's switch's one external port. Two steps, because
// the server's hello decides this page's VM MACs and addresses (which the
// page needs before its first VM) and the port needs the page's Lab:
//
//   const shared = await connectSharedSwitch(url);          // the hello: page P
//   lab.define('a', { nics: shared.addressing.nics(1, ['e1000']) });  // 0a:76:6d:P:01:00, 10.0.P.1/16
//   await shared.attach(lab);                                // PORT_CREATE (external) ... NIC_CONNECT
//
// host/lab stays generic: the addresses reach it as ordinary LabNicSpecs
// (per-NIC mac and ip), the socket as an ordinary uplink (Lab.attachUplink).
// When the socket closes (the server stops, the network goes), the uplink goes
// down and the external port runs its stop order on this page's switch.
import type { Lab, LabNicSpec } from '../../host/lab/lab.ts';
import type { ExternalPort } from '../../host/uplink/external-port.ts';
import { WebSocketUplink, type WebSocketLike } from '../../host/uplink/websocket-uplink.ts';
import { SHARED_SWITCH_PROTOCOL, pageIp, pageMac, type SharedHello } from '../../host/uplink/websocket-protocol.ts';
import { parseMac } from '../../emulator/net/frame.ts';
import type { NicModel } from '../../emulator/net/nic.ts';

/** The MACs and addresses the server's hello gives this page's VMs (N: the VM's 1-based place on the page). */
export interface PageAddressing {
  macFor(vmNumber: number, nicIndex: number): string;
  ipFor(vmNumber: number): string;
  prefixLength: number;
  /** VM number `vmNumber`'s NICs as the Lab takes them: each its page MAC, eth0 its address (others none). */
  nics(vmNumber: number, models: readonly NicModel[]): LabNicSpec[];
}

export interface SharedConnection {
  hello: SharedHello;
  uplink: WebSocketUplink;
  /** This page's VM MACs (0a:76:6d:P:N:I) and addresses (10.0.P.N/16). */
  addressing: PageAddressing;
  /** Gives the lab's switch its external port with the WebSocket behind it (the lab closes it with itself). */
  attach(lab: Pick<Lab, 'attachUplink'>): Promise<ExternalPort>;
}

/** The shared switch's WebSocket URL for a page served from `location`. */
export function sharedSwitchUrl(location: { protocol: string; host: string }, path: string): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

export async function connectSharedSwitch(
  url: string,
  openSocket: (url: string, protocol: string) => WebSocketLike = (u, p) => new WebSocket(u, p) as unknown as WebSocketLike,
): Promise<SharedConnection> {
  const uplink = new WebSocketUplink(openSocket(url, SHARED_SWITCH_PROTOCOL));
  const hello = await uplink.hello;
  const macFor = (vmNumber: number, nicIndex: number) => pageMac(hello.page, vmNumber, nicIndex);
  const ipFor = (vmNumber: number) => pageIp(hello, vmNumber);
  return {
    hello,
    uplink,
    addressing: {
      macFor,
      ipFor,
      prefixLength: hello.prefixLength,
      nics: (vmNumber, models) =>
        models.map((model, i) => ({ model, mac: macFor(vmNumber, i), ...(i === 0 ? { ip: `${ipFor(vmNumber)}/${hello.prefixLength}` } : {}) })),
    },
    attach: (lab) => lab.attachUplink(uplink, { name: `shared switch (page ${hello.page})`, mac: parseMac(pageMac(hello.page, 0, 0)) }),
  };
}
