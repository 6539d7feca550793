// The shared switch's WebSocket protocol (`vmswitch web --shared`): a page's
// switch joins the server's switch through its external port. Browser-safe.
//
//   page -> server   GET /shared, Upgrade: websocket, Sec-WebSocket-Protocol: vmswitch-shared.1
//   server -> page   one text message, the hello (JSON, SharedHello): the page's number,
//                    its MAC prefix and address block, the MTU
//   both ways        binary messages, each exactly one Ethernet frame (no FCS, no header of ours)
//
// Why the server assigns addresses: pages generate VM MACs and IPs from the
// VM's place on the page (a page's first VM is 10.0.0.1 everywhere), so two
// pages would collide. The server gives each page a number P (1..254, unique
// among the pages joined) and with it:
//   MACs    0a:76:6d:P:N:I   (N the VM's number on the page, I the NIC index):
//           locally administered unicast, a first byte no other part of vmswitch
//           uses; the server drops a page's frame whose source MAC is not in its prefix,
//           so a collision between pages cannot happen and cannot be made.
//   IPv4    10.0.P.N/16      (one L2 domain, one subnet for every page).
// The page's own external NIC takes 0a:76:6d:P:00:00 (no VM is number 0).
import { formatMac } from '../../emulator/net/frame.ts';

export const SHARED_SWITCH_PATH = '/shared';
/** The WebSocket subprotocol: a client that does not ask for it is refused (it speaks something else). */
export const SHARED_SWITCH_PROTOCOL = 'vmswitch-shared.1';
/** The shared switch's MTU (frames may add 14 bytes of Ethernet header, 18 with a VLAN tag). */
export const SHARED_SWITCH_MTU = 1500;
/** Ethernet header plus an 802.1Q tag on top of the MTU. */
export const SHARED_LINK_HEADERS = 18;
/** The first three bytes of every page MAC; the fourth is the page number. */
export const SHARED_MAC_OUI = Uint8Array.of(0x0a, 0x76, 0x6d);
export const MAX_PAGE_NUMBER = 254;

export interface SharedHello {
  type: 'hello';
  version: 1;
  /** 1..254, unique among the pages joined now. */
  page: number;
  /** The page's MAC prefix, four bytes, e.g. '0a:76:6d:03'. */
  macPrefix: string;
  /** Addresses of this page's VMs: `${ipBase}.N`, with the prefix length below. */
  ipBase: string;
  prefixLength: number;
  mtu: number;
}

export function helloFor(page: number): SharedHello {
  return {
    type: 'hello',
    version: 1,
    page,
    macPrefix: formatMac(pageMacPrefix(page)).slice(0, 11),
    ipBase: `10.0.${page}`,
    prefixLength: 16,
    mtu: SHARED_SWITCH_MTU,
  };
}

/** The four prefix bytes of page `page`. */
export function pageMacPrefix(page: number): Uint8Array {
  return Uint8Array.of(SHARED_MAC_OUI[0]!, SHARED_MAC_OUI[1]!, SHARED_MAC_OUI[2]!, page & 0xff);
}

/** The MAC of NIC `nicIndex` of VM number `vmNumber` (1..254) on page `page`; (0, 0) is the page's external NIC. */
export function pageMac(page: number, vmNumber: number, nicIndex: number): string {
  const prefix = pageMacPrefix(page);
  return formatMac(Uint8Array.of(prefix[0]!, prefix[1]!, prefix[2]!, prefix[3]!, vmNumber & 0xff, nicIndex & 0xff));
}

/** The IPv4 address (no prefix length) of VM number `vmNumber` on the page the hello is for. */
export function pageIp(hello: SharedHello, vmNumber: number): string {
  return `${hello.ipBase}.${vmNumber}`;
}

/** A hello from the server, or why not (the page does not trust the server's text blindly either). */
export function parseHello(text: string): SharedHello | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the hello is not JSON';
  }
  const hello = value as Partial<SharedHello> | null;
  if (!hello || typeof hello !== 'object' || hello.type !== 'hello') return 'not a hello';
  if (hello.version !== 1) return `hello version ${String(hello.version)} (this page speaks 1)`;
  if (!Number.isInteger(hello.page) || hello.page! < 1 || hello.page! > MAX_PAGE_NUMBER) return 'the hello has no valid page number';
  const expected = helloFor(hello.page!);
  if (hello.macPrefix !== expected.macPrefix || hello.ipBase !== expected.ipBase || hello.prefixLength !== expected.prefixLength) {
    return 'the hello\'s addresses do not match its page number';
  }
  if (!Number.isInteger(hello.mtu) || hello.mtu! < 576 || hello.mtu! > 9000) return 'the hello has no valid MTU';
  return { ...expected, mtu: hello.mtu! };
}
