// Shared by the e2e tests and the web benchmark: the lab server, a headless
// system Chromium with a fresh profile, and a page that records console errors.
import puppeteer, { type Browser, type Page } from 'puppeteer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLabServer } from '../../web/lab-server.ts';
import type { RunningServer } from '../../web/server.ts';

/** What serves the page: the lab server by default, or a static server over an export (static-export.test.ts). */
export type PageServer = Pick<RunningServer, 'url' | 'close'>;

export interface LabSession {
  server: PageServer;
  browser: Browser;
  page: Page;
  /** Console errors, page errors and failed requests seen so far. */
  problems: string[];
  downloadDir: string;
  close(): Promise<void>;
}

/** Headless system Chromium with its profile in `userDataDir`. */
export function launchChromium(userDataDir: string, extraArgs: string[] = []): Promise<Browser> {
  return puppeteer.launch({
    executablePath: process.env.PUPPETEER_EXECUTABLE_PATH || '/usr/bin/chromium',
    headless: true,
    userDataDir,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}

export async function openLab(
  options: { log?: (line: string) => void; viewport?: { width: number; height: number }; templates?: 'wait' | 'none'; serve?: () => Promise<PageServer> } = {},
): Promise<LabSession> {
  // Templates are made (once, cached) before the page opens, so VMs start from snapshots.
  const server = options.serve ? await options.serve() : await startLabServer({ port: 0, log: options.log ?? (() => {}), templates: options.templates ?? 'wait' });
  const profile = mkdtempSync(join(tmpdir(), 'vmswitch-chromium-'));
  const downloadDir = mkdtempSync(join(tmpdir(), 'vmswitch-downloads-'));
  let browser: Browser | undefined;
  try {
    browser = await launchChromium(profile);
    const page = await browser.newPage();
    await page.setViewport(options.viewport ?? { width: 1600, height: 1000 });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir });
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    const opened = browser;
    return {
      server,
      browser,
      page,
      problems,
      downloadDir,
      async close() {
        await opened.close().catch(() => undefined);
        await server.close();
        rmSync(profile, { recursive: true, force: true });
        rmSync(downloadDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await browser?.close().catch(() => undefined);
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(downloadDir, { recursive: true, force: true });
    throw error;
  }
}

/** Adds a VM through the page's form. */
export async function addVm(page: Page, name: string, nic0: 'e1000' | 'virtio', boot: 'snapshot' | 'cold' = 'snapshot'): Promise<void> {
  await page.$eval('#vm-name', (input, value) => ((input as HTMLInputElement).value = value), name);
  await page.select('#vm-nic0', nic0);
  await page.select('#vm-nic1', '');
  await page.select('#vm-boot', boot);
  await page.click('#add-vm-button');
  await page.waitForSelector(`.vm[data-name="${name}"]`);
}

export async function startVm(page: Page, name: string): Promise<void> {
  await page.click(`.vm[data-name="${name}"] button.start`);
}

export function terminalText(page: Page, name: string): Promise<string> {
  return page.evaluate((vm) => (window as unknown as { vmswitch: { terminalText(n: string): string } }).vmswitch.terminalText(vm), name);
}

/** How each VM's last start went on the page ('snapshot' or 'cold'), from window.vmswitch.vmInfo. */
export function bootedFrom(page: Page, ...names: string[]): Promise<(string | undefined)[]> {
  return page.evaluate((vms) => {
    const { vmInfo } = (window as unknown as { vmswitch: { vmInfo(n: string): { bootedFrom?: string } | undefined } }).vmswitch;
    return vms.map((vm) => vmInfo(vm)?.bootedFrom);
  }, names);
}

/** Waits until the VM's terminal text matches, or fails with the terminal's tail. */
export async function waitForTerminal(page: Page, name: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await terminalText(page, name);
    if (pattern.test(text)) return text;
    await new Promise((r) => setTimeout(r, 250));
  }
  const state = await page.evaluate((vm) => {
    const v = (window as unknown as { vmswitch: { vmInfo(n: string): { state: string; phase: string; detail: string } | undefined } }).vmswitch.vmInfo(vm);
    return v ? `${v.state}/${v.phase}${v.detail ? ` (${v.detail})` : ''}` : 'no such VM';
  }, name);
  const message = await page.$eval('#message', (e) => e.textContent ?? '');
  throw new Error(
    `${name}'s terminal never showed ${pattern} in ${timeoutMs} ms (VM ${state}; page says '${message}'); it ends with:\n${text.trimEnd().split('\n').slice(-15).join('\n')}`,
  );
}

/** Polls until the probe gives a truthy value (returned), or fails naming what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Types into a VM's terminal the way a user does (focus xterm, keyboard). */
export async function typeInto(page: Page, name: string, text: string): Promise<void> {
  await page.click(`.vm[data-name="${name}"] .terminal`);
  await page.keyboard.type(text);
}
