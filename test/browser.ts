// A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
// messages, NUL-terminated, commands on fd 3, replies and events on fd 4). No npm dependency: the
// browser is Debian's `chromium` package (.ci/run installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export class Browser {
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private listeners: ((m: Message) => void)[] = [];
  private buf = '';
  readonly stderr: string[] = [];

  private constructor(
    private readonly proc: ChildProcess,
    private readonly out: Writable,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<Browser> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-chromium-'));
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      'about:blank',
    ];
    const proc = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const b = new Browser(proc, proc.stdio[3] as Writable, profile);
    proc.stderr!.on('data', (d: Buffer) => b.stderr.push(d.toString()));
    (proc.stdio[4] as Readable).on('data', (d: Buffer) => b.onData(d.toString()));
    proc.on('exit', (code) => {
      for (const p of b.pending.values())
        p.reject(new Error(`chromium exited (${code}): ${b.stderr.join('').slice(-2000)}`));
      b.pending.clear();
    });
    await b.send('Browser.getVersion');
    return b;
  }

  private onData(s: string): void {
    this.buf += s;
    let i;
    while ((i = this.buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(this.buf.slice(0, i)) as Message;
      this.buf = this.buf.slice(i + 1);
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id)!;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(msg.error.message));
        else p.resolve(msg.result ?? {});
      } else for (const l of this.listeners) l(msg);
    }
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.out.write(
        JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0',
      );
    });
  }

  on(fn: (m: Message) => void): void {
    this.listeners.push(fn);
  }

  /** Opens url in a new page; returns its session and the console errors and exceptions it logs. */
  async open(url: string, width = 1200, height = 900): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await this.send('Target.attachToTarget', {
      targetId,
      flatten: true,
    })) as { sessionId: string };
    const page = new Page(this, sessionId);
    this.on((m) => {
      if (m.sessionId !== sessionId) return;
      const p = m.params ?? {};
      if (m.method === 'Runtime.consoleAPICalled' && p.type === 'error')
        page.errors.push(`console.error: ${JSON.stringify(p.args)}`);
      if (m.method === 'Runtime.exceptionThrown')
        page.errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
      if (m.method === 'Log.entryAdded' && (p.entry as { level: string }).level === 'error')
        page.errors.push(`log: ${JSON.stringify(p.entry)}`);
      if (m.method === 'Page.loadEventFired') page.loaded();
    });
    for (const d of ['Runtime.enable', 'Log.enable', 'Page.enable']) await page.send(d);
    await page.send('Emulation.setDeviceMetricsOverride', {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const load = page.waitLoad();
    await page.send('Page.navigate', { url });
    await load;
    return page;
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => undefined);
    await new Promise<void>((r) =>
      this.proc.exitCode !== null ? r() : this.proc.once('exit', () => r()),
    );
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  readonly errors: string[] = [];
  private onLoad: (() => void) | null = null;

  constructor(
    private readonly browser: Browser,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  loaded(): void {
    this.onLoad?.();
  }

  waitLoad(): Promise<void> {
    return new Promise((r) => (this.onLoad = r));
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true })) as {
      result: { value: T };
      exceptionDetails?: unknown;
    };
    if (r.exceptionDetails) throw new Error(`evaluate: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  }

  /** The whole page as PNG. */
  async screenshot(): Promise<Buffer> {
    const m = (await this.send('Page.getLayoutMetrics')) as {
      cssContentSize: { width: number; height: number };
    };
    const { width, height } = m.cssContentSize;
    const r = (await this.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width, height, scale: 1 },
    })) as { data: string };
    return Buffer.from(r.data, 'base64');
  }
}
