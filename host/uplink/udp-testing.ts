// Node-only helper for tests and benchmarks of UDP uplinks.
import dgram from 'node:dgram';

/** A UDP port free on `address` right now (bound and released: another process may take it meanwhile). */
export async function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
