// `vmswitch web --file`: the page runs a lab file (two switches joined by a
// link, a VM on each), draws its topology, and the link's counters on the
// picture move when one VM pings the other across the link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer';
import { bootedFrom, openLab, typeInto, waitFor, waitForTerminal } from './browser.ts';
import { startLabServer } from '../../web/lab-server.ts';
import { readWebLabFile } from '../../cli/commands/web.ts';
import { parseLabFile } from '../../host/lab/file/index.ts';
import { topologyGraph } from '../../host/lab/graph/index.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const BOOT_TIMEOUT_MS = 300_000;

const LAB_FILE = `name: two-switches
switches:
  left: {}
  right: {}
links:
  wan:
    between: [left, right]
vms:
  a:
    nics:
      - { model: e1000, switch: left, addresses: [10.0.5.1/24] }
  b:
    nics:
      - { model: virtio, switch: right, addresses: [10.0.5.2/24] }
`;

interface EdgeState {
  rx: number;
  tx: number;
  text: string;
}

function edgeState(page: Page, id: string): Promise<EdgeState | null> {
  return page.evaluate((dataId) => {
    const group = document.querySelector<SVGGElement>(`#topology g[data-id="${dataId}"]`);
    if (!group) return null;
    return { rx: Number(group.dataset.rx ?? -1), tx: Number(group.dataset.tx ?? -1), text: group.querySelector('text.counters')?.textContent ?? '' };
  }, id);
}

test('the page runs a lab file: its topology is drawn and the link counters move with a ping across it', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-webtopo-'));
  const path = join(dir, 'two-switches.yaml');
  writeFileSync(path, LAB_FILE);
  const labFile = await readWebLabFile(path);
  const lab = await openLab({ serve: () => startLabServer({ port: 0, templates: 'wait', labFile }) });
  try {
    const { page } = lab;
    // Every node and edge of the plan's graph is in the page's picture.
    const graph = topologyGraph(parseLabFile(LAB_FILE));
    const ids = await page.$$eval('#topology svg g[data-id]', (groups) => groups.map((g) => (g as SVGGElement).dataset.id!));
    assert.deepEqual(new Set(ids), new Set([...graph.nodes, ...graph.edges].map((x) => x.id)));
    assert.ok(ids.includes('link:wan') && ids.includes('nic:a.eth0') && ids.includes('nic:b.eth0'), ids.join(' '));
    // The plain lab's form is gone; the file's VMs have their cards.
    assert.equal(await page.$eval('#add-vm', (form) => (form as HTMLElement).hidden), true);
    assert.deepEqual(await page.$$eval('article.vm', (cards) => cards.map((c) => (c as HTMLElement).dataset.name)), ['a', 'b']);
    // Nothing has crossed the link yet.
    const before = await edgeState(page, 'link:wan');
    assert.deepEqual(before && [before.rx, before.tx], [0, 0], JSON.stringify(before));

    await page.click('#start-all');
    await waitForTerminal(page, 'a', /^a:~# /m, BOOT_TIMEOUT_MS);
    await waitForTerminal(page, 'b', /^b:~# /m, BOOT_TIMEOUT_MS);
    assert.deepEqual(await bootedFrom(page, 'a', 'b'), ['snapshot', 'snapshot']);
    await page.waitForSelector('.vm[data-name="a"][data-state="running"]');
    await page.waitForSelector('.vm[data-name="b"][data-state="running"]');

    await typeInto(page, 'a', 'ping -c 3 10.0.5.2\n');
    await waitForTerminal(page, 'a', /3 packets transmitted, 3 packets received/, 90_000);

    // The picture's counters (redrawn once a second) show frames through both link ports and both NICs.
    const link = await waitFor('the link counters on the page', async () => {
      const state = await edgeState(page, 'link:wan');
      return state && state.rx >= 6 && state.tx >= 6 && state;
    }, 10_000);
    assert.match(link!.text, /left: rx [1-9]\d* tx [1-9]\d* · right: rx [1-9]\d* tx [1-9]\d*/);
    for (const nic of ['nic:a.eth0', 'nic:b.eth0']) {
      const state = await edgeState(page, nic);
      assert.ok(state && state.rx >= 3 && state.tx >= 3, `${nic}: ${JSON.stringify(state)}`);
    }
    // They are the switches' own counters: the page's numbers agree with the link ports'.
    const fromSwitches = await page.evaluate(() => {
      type Topo = { plan: { links: { ends: { switch: string }[] }[] }; links: Map<string, { endOn(sw: unknown): { portId: number } | undefined }>; switches: Map<string, { switch: { counters(p: number): { rxPackets: number } } }> };
      const topo = (window as unknown as { vmswitch: { topology: Topo; topologyView: { update(): void } } }).vmswitch;
      topo.topologyView.update();
      let rx = 0;
      for (const end of topo.topology.plan.links[0]!.ends) {
        const sw = topo.topology.switches.get(end.switch)!.switch;
        rx += sw.counters(topo.topology.links.get('wan')!.endOn(sw)!.portId).rxPackets;
      }
      // Read in the same task as the update: no frame can arrive in between.
      const shown = Number(document.querySelector<SVGGElement>('#topology g[data-id="link:wan"]')!.dataset.rx);
      return { rx, shown };
    });
    assert.equal(fromSwitches.shown, fromSwitches.rx);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'e2e-topology.png') });
    assert.deepEqual(lab.problems, [], 'the page logged errors');
  } finally {
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
