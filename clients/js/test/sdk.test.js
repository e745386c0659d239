// The SDK against a real shardd: requests and errors, pushes, heartbeat RTT,
// resume after a drop (missed pushes replayed in order), server refusals and
// shutdown, and a clear failure when nothing listens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect as sdkConnect, ShardError, OPS, PUSHES } from '../shardd.js';
import { Shard, eventually, uniqueName } from './harness.js';

// Node 18/20 have no global WebSocket: the ws package's class, as an app would pass it.
const connect = (url, options = {}) => sdkConnect(url, { WebSocket, ...options });

let shard;
before(async () => { shard = await new Shard(['session.resume_grace_ms=20000']).start(); });
after(async () => { await shard?.stop(); });

async function loggedIn(options = {}) {
  const c = await connect(shard.wsUrl, options);
  const name = uniqueName();
  await c.register(name, 'pass-word-1');
  const r = await c.login(name, 'pass-word-1');
  return { c, name, r };
}

test('connects, says hello and measures the round trip', async () => {
  const c = await connect(shard.wsUrl, { heartbeatMs: 100 });
  try {
    assert.equal(c.state, 'open');
    assert.equal(c.hello.transport, 'ws');
    assert.ok(c.hello.session > 0);
    const { ms } = await c.once('rtt');
    assert.ok(ms >= 0 && ms < 5000, `rtt ${ms}`);
    assert.equal(c.rtt, ms);
  } finally {
    c.close();
  }
});

test('register, login, zones; errors carry code, msg and details', async () => {
  const { c, name, r } = await loggedIn();
  try {
    assert.equal(r.username, name);
    assert.equal(typeof r.token, 'string');
    assert.equal(c.resumeToken, r.resume_token);
    const { zones } = await c.call('zone.list');
    assert.ok(zones.some((z) => z.id === 'main'));
    const sel = await c.selectZone('main');
    assert.equal(sel.zone, 'main');
    assert.equal(c.zone, 'main');

    await assert.rejects(c.call('zone.select', { zone: 'nowhere' }), (e) => {
      assert.ok(e instanceof ShardError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.ok(e.msg.length > 0);
      return true;
    });
    await assert.rejects(c.call('no.such_op'), { code: 'UNKNOWN_OP' });
    const other = await connect(shard.wsUrl);
    await assert.rejects(other.login(name, 'wrong-password'), { code: 'BAD_CREDENTIALS' });
    other.close();
    await assert.rejects(other.call('sys.ping'), { code: 'CLOSED' });
  } finally {
    c.close();
  }
});

test('OPS and PUSHES match what the running server has', async () => {
  const r = await shard.admin('GET', '/admin/ops');
  assert.equal(r.status, 200, r.body);
  const server = JSON.parse(r.body).ops.map((o) => o.op).sort();
  assert.deepEqual([...OPS].sort(), server);
  for (const p of ['friend.request', 'friend.update', 'zone.update']) assert.ok(PUSHES.includes(p), p);
});

test('pushes reach on() listeners and count lastSeq', async () => {
  const { c, r } = await loggedIn();
  try {
    const got = c.once('sys.notice');
    const a = await shard.admin('POST', '/admin/announce', { text: 'hello players', account_id: r.account_id });
    assert.equal(a.status, 200, a.body);
    const n = await got;
    assert.equal(n.text, 'hello players');
    assert.ok(c.lastSeq >= 1);
  } finally {
    c.close();
  }
});

test('a dropped connection resumes and replays the missed pushes in order', async () => {
  const { c, r } = await loggedIn({ reconnectBaseMs: 50 });
  try {
    await c.selectZone('main');
    const notices = [];
    c.on('sys.notice', (d) => notices.push(d.text));
    const states = [];
    c.on('state', ({ state }) => states.push(state));
    const resumed = c.once('resumed', 15000);
    c.dropConnection();
    assert.equal(c.state, 'reconnecting');
    // While the client is away, the server holds the pushes for it.
    await shard.admin('POST', '/admin/announce', { text: 'away-1', account_id: r.account_id });
    await shard.admin('POST', '/admin/announce', { text: 'away-2', account_id: r.account_id });
    const res = await resumed;
    assert.equal(res.resync, false);
    assert.ok(await eventually(() => notices.length >= 2), `notices: ${notices}`);
    assert.deepEqual(notices.slice(-2), ['away-1', 'away-2']);
    assert.deepEqual(states.slice(0, 2), ['reconnecting', 'open']);
    assert.equal(c.reconnects, 1);
    // Same session: still logged in and in the zone.
    const { zones } = await c.call('zone.list');
    assert.ok(zones.find((z) => z.id === 'main').population >= 1);
    assert.equal(c.zone, 'main');
  } finally {
    c.close();
  }
});

test('requests in flight when the connection drops are rejected with DISCONNECTED', async () => {
  const { c } = await loggedIn({ reconnectBaseMs: 50 });
  try {
    const pending = c.call('zone.list');
    c.dropConnection();
    await assert.rejects(pending, { code: 'DISCONNECTED' });
    await c.ready();
    await c.call('zone.list');
  } finally {
    c.close();
  }
});

test('a kicked session is not resumed: loggedout with KICKED', async () => {
  const { c, name } = await loggedIn({ reconnectBaseMs: 50 });
  try {
    const kicked = c.once('kicked');
    const out = c.once('loggedout', 15000);
    const second = await connect(shard.wsUrl);
    await second.login(name, 'pass-word-1');
    assert.equal((await kicked).reason, 'logged_in_elsewhere');
    assert.equal((await out).code, 'KICKED');
    assert.equal(c.account, null);
    second.close();
  } finally {
    c.close();
  }
});

test('connect() rejects when nothing listens', async () => {
  await assert.rejects(connect('ws://127.0.0.1:1/ws', { connectTimeoutMs: 3000 }), { code: 'DISCONNECTED' });
});

test('rate limits surface retryAfterMs', async () => {
  const s = await new Shard(['limits.rate_per_sec=1', 'limits.rate_burst=3']).start();
  try {
    const c = await connect(s.wsUrl, { heartbeatMs: 60000 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => c.call('sys.ping')));
    const limited = results.filter((x) => x.status === 'rejected').map((x) => x.reason);
    assert.ok(limited.length > 0);
    assert.equal(limited[0].code, 'RATE_LIMITED');
    assert.equal(typeof limited[0].retryAfterMs, 'number');
    assert.ok(limited[0].retryAfterMs > 0);
    c.close();
  } finally {
    await s.stop();
  }
});

test('a server shutdown is announced with reconnect_after_ms', async () => {
  const s = await new Shard(['server.reconnect_after_ms=1500']).start();
  try {
    const c = await connect(s.wsUrl);
    const shut = c.once('shutdown');
    s.proc.kill('SIGTERM');
    const d = await shut;
    assert.equal(d.reconnect_after_ms, 1500);
    await eventually(() => c.state === 'reconnecting');
    assert.equal(c.state, 'reconnecting');
    c.close();
  } finally {
    await s.stop();
  }
});
