// The page joins `vmswitch web --shared`: a WebSocket to the server's shared
// switch behind this page's switch's one external port. Two steps, because
// the server's hello decides this page's VM MACs and addresses (which the
// lab needs before its first VM) and the port needs the page's switch:
//
//   const shared = await connectSharedSwitch(url);          // the hello: page P
//   const lab = new Lab({ ..., addressing: shared.addressing });
//   await shared.attach(lab.sw);                             // PORT_CREATE (external) ... NIC_CONNECT
//
// When the socket closes (the server stops, the network goes), the uplink goes
// down and the external port runs its stop order on this page's switch.
import type { Switch } from '../../host/switch.ts';
import { ExternalPort } from '../../host/uplink/external-port.ts';
import { WebSocketUplink, type WebSocketLike } from '../../host/uplink/websocket-uplink.ts';
import { SHARED_SWITCH_PROTOCOL, pageIp, pageMac, type SharedHello } from '../../host/uplink/websocket-protocol.ts';
import { parseMac } from '../../emulator/net/frame.ts';
import type { VmAddressing } from './lab.ts';

export interface SharedConnection {
  hello: SharedHello;
  uplink: WebSocketUplink;
  /** This page's VM MACs (0a:76:6d:P:N:I) and addresses (10.0.P.N/16). */
  addressing: VmAddressing;
  /** Gives `sw` its external port with the WebSocket behind it. */
  attach(sw: Switch): Promise<ExternalPort>;
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
  return {
    hello,
    uplink,
    addressing: {
      macFor: (vmNumber, nicIndex) => pageMac(hello.page, vmNumber, nicIndex),
      ipFor: (vmNumber) => pageIp(hello, vmNumber),
      prefixLength: hello.prefixLength,
    },
    attach: (sw) => ExternalPort.attach(sw, uplink, { name: `shared switch (page ${hello.page})`, mac: parseMac(pageMac(hello.page, 0, 0)) }),
  };
}
