// Two real guests on the lab's switch, for each pair of NIC models: ping both
// ways and a 16 MiB TCP transfer whose sha256 matches on both ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../host/lab/index.ts';
import type { NicModel } from '../../emulator/net/nic.ts';

const PAIRS: [NicModel, NicModel][] = [
  ['e1000', 'e1000'],
  ['virtio', 'virtio'],
  ['e1000', 'virtio'],
];
const MIB = 1024 * 1024;

async function run(lab: Lab, vm: string, command: string, timeoutMs = 60_000): Promise<string> {
  const result = await lab.exec(vm, command, { timeoutMs });
  assert.equal(result.exitCode, 0, `${vm}$ ${command}\n${result.output}`);
  return result.output;
}

for (const [first, second] of PAIRS) {
  test(`${first} <-> ${second}: ping both ways, 16 MiB over TCP with matching sha256`, { timeout: 600_000 }, async () => {
    const lab = new Lab();
    try {
      await lab.start('a', { nics: [first] });
      await lab.start('b', { nics: [second] });
      for (const port of lab.ports()) assert.equal(port.nicState, 'connected');

      assert.match(await run(lab, 'a', 'ping -c 3 -W 5 b'), /3 packets transmitted, 3 packets received/);
      assert.match(await run(lab, 'b', 'ping -c 3 -W 5 a'), /3 packets transmitted, 3 packets received/);

      // 16 one-MiB blocks of random data, each after a distinct line, so that reordered blocks change the hash too.
      const made = await run(
        lab,
        'a',
        'mkdir -p /tmp/www && head -c 1048576 /dev/urandom > /tmp/r1 && for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do echo "block $i"; cat /tmp/r1; done > /tmp/www/out && rm /tmp/r1 && wc -c < /tmp/www/out && sha256sum /tmp/www/out && httpd -p 8080 -h /tmp/www',
        180_000,
      );
      const [size, sentHash] = [Number(made.split('\n')[0]), made.split('\n')[1]!.split(/\s+/)[0]!];
      assert.ok(size > 16 * MIB, `file is ${size} bytes`);

      // b fetches it from a's busybox httpd: one TCP connection carrying the file from a to b.
      const before = lab.ports().find((p) => p.vm === 'b')!.counters.txBytes;
      const received = await run(lab, 'b', 'wget -q -O /tmp/in http://a:8080/out && wc -c < /tmp/in && sha256sum /tmp/in && rm /tmp/in', 300_000);
      assert.equal(Number(received.split('\n')[0]), size, `b received ${received.split('\n')[0]} of ${size} bytes`);
      assert.equal(received.split('\n')[1]!.split(/\s+/)[0], sentHash, 'sha256 of the received file');
      // It went through the switch: b's port delivered at least the file's bytes.
      const after = lab.ports().find((p) => p.vm === 'b')!.counters.txBytes;
      assert.ok(after - before >= size, `b's port delivered ${after - before} bytes`);
    } finally {
      await lab.close();
    }
  });
}
