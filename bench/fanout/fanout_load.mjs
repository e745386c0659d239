// The fan-out benchmark's load client, the same for all three servers:
// `--members` clients in one channel, `--senders` of them sending
// `--rate` messages per second each (paced, open loop); every member gets
// every message. The text of a message is the sender's clock
// (performance.now(), shared by every client of this process), so each
// delivery gives its latency. Reports deliveries per second, the server's CPU
// seconds (/proc/PID/stat) and deliveries per server CPU-second over the
// measured window, the server's user and kernel microseconds per delivery,
// latency p50/p99, and deliveries missing at the end.
//
//   node fanout_load.mjs --target shardd|ws|colyseus|floor --url ws://127.0.0.1:PORT
//        --server-pid PID [--members 1000] [--senders 10] [--rate 5]
//        [--warmup 3] [--duration 10] [--label NAME]
//
// shardd: each member registers and logs in (the server should run with
// cheap password hashing and loose chat limits), joins the custom channel
// "bench" and sends chat.send. ws and floor (bench/fanout_floor.cpp): plain
// JSON text. colyseus: colyseus.js, room "chat". Prints one JSON line.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const opts = {
  target: 'shardd', url: '', serverPid: 0, members: 1000, senders: 10, rate: 5, warmup: 3,
  duration: 10, label: '', connectBatch: 50,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const v = process.argv[i + 1];
  opts[k] = typeof opts[k] === 'number' ? Number(v) : v;
}
if (!opts.url) throw new Error('--url is required');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;
// The server's CPU seconds so far, in user space and in the kernel.
function cpuTimes(pid) {
  if (!pid) return { user: 0, sys: 0 };
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };  // utime, stime
}

let measuring = false;
let delivered = 0;
let sentMeasured = 0;
const latencies = [];  // ms, measured window only
const onText = (text) => {
  const t = Number(text);
  if (!measuring || !Number.isFinite(t)) return;
  delivered += 1;
  latencies.push(performance.now() - t);
};

// ---- one member per target: connect(i) -> {send(text)}

async function sharddMember(i) {
  const ws = new WebSocket(`${opts.url}/ws`, { perMessageDeflate: false });
  let rid = 0;
  const waiting = new Map();
  const call = (op, d) => new Promise((resolve, reject) => {
    const id = ++rid;
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ op, rid: id, d }));
  });
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.op === 'chat.msg') return onText(m.d.text);
    if (m.rid && waiting.has(m.rid)) {
      const w = waiting.get(m.rid);
      waiting.delete(m.rid);
      if (m.ok) w.resolve(m.d);
      else w.reject(new Error(`${m.err.code}: ${m.err.msg}`));
    }
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const name = `b${process.pid % 100000}_${i}`;
  await call('auth.register', { username: name, password: 'bench-pass-1' });
  await call('auth.login', { username: name, password: 'bench-pass-1' });
  await call('chat.join', { channel: 'bench' });
  return {
    send: (text) => {
      const id = ++rid;
      ws.send(`{"op":"chat.send","rid":${id},"d":{"channel":"bench","text":"${text}"}}`);
    },
    close: () => ws.terminate(),
  };
}

async function wsMember() {
  const ws = new WebSocket(opts.url, { perMessageDeflate: false });
  ws.on('message', (data) => onText(JSON.parse(data.toString()).d.text));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    send: (text) => ws.send(`{"op":"chat.send","d":{"text":"${text}"}}`),
    close: () => ws.terminate(),
  };
}

let colyseusClient = null;
async function colyseusMember() {
  if (!colyseusClient) {
    globalThis.WebSocket ??= WebSocket;
    const { Client } = await import('colyseus.js');
    colyseusClient = new Client(opts.url);
  }
  const room = await colyseusClient.joinOrCreate('chat');
  room.onMessage('chat', (m) => onText(m.text));
  return { send: (text) => room.send('chat', { text }), close: () => room.leave(false) };
}

const make = { shardd: sharddMember, ws: wsMember, floor: wsMember, colyseus: colyseusMember }[opts.target];
if (!make) throw new Error(`unknown --target ${opts.target}`);

// ---- run

const members = [];
for (let i = 0; i < opts.members; i += opts.connectBatch) {
  const batch = [];
  for (let k = i; k < Math.min(opts.members, i + opts.connectBatch); ++k) batch.push(make(k));
  members.push(...(await Promise.all(batch)));
}
const senders = members.slice(0, opts.senders);

// Paced sending: every sender sends `rate` per second, spread evenly.
const intervalMs = 1000 / (opts.rate * opts.senders);
let next = performance.now();
let turn = 0;
let running = true;
const pace = async () => {
  while (running) {
    const now = performance.now();
    while (next <= now) {
      senders[turn % senders.length].send(performance.now().toFixed(3));
      if (measuring) sentMeasured += 1;
      turn += 1;
      next += intervalMs;
    }
    await sleep(Math.max(0, Math.min(5, next - performance.now())));
  }
};
const pacing = pace();
await sleep(opts.warmup * 1000);
const cpu0 = cpuTimes(opts.serverPid);
const t0 = performance.now();
measuring = true;
await sleep(opts.duration * 1000);
measuring = false;
const elapsed = (performance.now() - t0) / 1000;
const cpu1 = cpuTimes(opts.serverPid);
const userCpu = cpu1.user - cpu0.user;
const sysCpu = cpu1.sys - cpu0.sys;
const cpu = userCpu + sysCpu;
running = false;
await pacing;
await sleep(500);
for (const m of members) m.close();

latencies.sort((a, b) => a - b);
const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null);
const expected = sentMeasured * opts.members;
const out = {
  bench: 'fanout', target: opts.target, label: opts.label || opts.target, members: opts.members,
  senders: opts.senders, rate_per_sender: opts.rate, offered_msgs_per_s: opts.rate * opts.senders,
  seconds: Number(elapsed.toFixed(2)), deliveries: delivered,
  deliveries_per_s: Math.round(delivered / elapsed), server_cpu_s: Number(cpu.toFixed(2)),
  deliveries_per_cpu_s: cpu > 0 ? Math.round(delivered / cpu) : null,
  // Where the server's time per delivery went: its own code (user) and the
  // kernel (sys: the send, and on loopback the receiving side's TCP work).
  user_us_per_delivery: delivered ? Number(((userCpu / delivered) * 1e6).toFixed(2)) : null,
  sys_us_per_delivery: delivered ? Number(((sysCpu / delivered) * 1e6).toFixed(2)) : null,
  p50_ms: q(0.5) === null ? null : Number(q(0.5).toFixed(2)),
  p99_ms: q(0.99) === null ? null : Number(q(0.99).toFixed(2)),
  expected_deliveries: expected,
};
console.log(JSON.stringify(out));
process.exit(0);
