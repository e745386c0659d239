// Starts a real shardd for the SDK tests: the binary of $SHARDD_BIN (default
// build/test/shardd), config/shardd.toml with ports picked by the OS on
// 127.0.0.1, a private data folder, cheap password hashing and an admin token.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const ADMIN_TOKEN = 'sdk-test-token';

export class Shard {
  /** @param {string[]} sets extra --set key=value overrides */
  constructor(sets = []) {
    this.dir = mkdtempSync(join(tmpdir(), 'shardd-sdk-'));
    this.sets = sets;
    this.log = '';
  }

  async start(timeoutMs = 15000) {
    const bin = process.env.SHARDD_BIN || join(ROOT, 'build/test/shardd');
    const portsFile = join(this.dir, 'ports.json');
    const sets = [
      'ws.port=0', 'tcp.port=0', 'admin.port=0', 'ws.bind=127.0.0.1', 'tcp.bind=127.0.0.1',
      'admin.bind=127.0.0.1', `server.data_dir=${join(this.dir, 'data')}`,
      `server.ports_file=${portsFile}`, 'server.io_threads=2', 'server.logic_threads=1',
      'server.shutdown_deadline_ms=3000', 'auth.scrypt_n=1024', `admin.token=${ADMIN_TOKEN}`,
      `ws.web_root=${join(ROOT, 'clients/web')}`,
      `chat.wordlist_file=${join(ROOT, 'config/chat-words.txt')}`, ...this.sets,
    ];
    const args = ['-c', join(ROOT, 'config/shardd.toml'), ...sets.flatMap((s) => ['--set', s])];
    this.proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (b) => { this.log += b; });
    this.proc.stderr.on('data', (b) => { this.log += b; });
    this.exited = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`shardd exited early:\n${this.log}`);
      if (existsSync(portsFile)) {
        try {
          const p = JSON.parse(readFileSync(portsFile, 'utf8'));
          if (p.ws && p.admin) {
            this.ports = p;
            return this;
          }
        } catch { /* being written */ }
      }
      await sleep(20);
    }
    throw new Error(`shardd did not start:\n${this.log}`);
  }

  get wsUrl() { return `ws://127.0.0.1:${this.ports.ws}/ws`; }
  get httpBase() { return `http://127.0.0.1:${this.ports.ws}`; }

  async admin(method, path, body) {
    const r = await fetch(`http://127.0.0.1:${this.ports.admin}${path}`, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.text() };
  }

  /** SIGTERM, wait; the folder is removed. */
  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` until it holds or `timeoutMs` passes. */
export async function eventually(pred, timeoutMs = 10000, stepMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await sleep(stepMs);
  }
  return !!(await pred());
}

let counter = 0;
/** A username unique within the test run. */
export function uniqueName(prefix = 'u') {
  return `${prefix}_${process.pid % 10000}_${++counter}`;
}
