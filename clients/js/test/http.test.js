// The SDK over the HTTP fallback transport against a real shardd: the same
// API as over WebSocket (requests, pushes, heartbeat, resume after a drop),
// and the automatic fallback when WebSocket cannot connect. Node has no
// EventSource, so this runs the long-polling path; the browser tests
// (tests/e2e) run the server-sent events path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, httpBase } from '../shardd.js';
import { Shard, eventually, uniqueName } from './harness.js';

let shard;
before(async () => {
  shard = await new Shard(['session.resume_grace_ms=20000', 'http.idle_expiry_ms=2000']).start();
});
after(async () => { await shard?.stop(); });

async function loggedIn(options = {}) {
  const c = await connect(shard.wsUrl, { transport: 'http', ...options });
  const name = uniqueName('h');
  await c.register(name, 'pass-word-1');
  const r = await c.login(name, 'pass-word-1');
  return { c, name, r };
}

test('httpBase maps WebSocket URLs to the HTTP origin', () => {
  assert.equal(httpBase('ws://127.0.0.1:7100/ws'), 'http://127.0.0.1:7100');
  assert.equal(httpBase('wss://play.example:443/ws?x=1'), 'https://play.example:443');
});

test('over HTTP: hello, login, zone, pushes and the round trip', async () => {
  const { c, r } = await loggedIn({ heartbeatMs: 100 });
  try {
    assert.equal(c.hello.transport, 'http');
    assert.equal(c.transportName, 'http');
    await c.selectZone('main');
    const notice = c.once('sys.notice');
    await shard.admin('POST', '/admin/announce', { text: 'over-http', account_id: r.account_id });
    assert.equal((await notice).text, 'over-http');
    const { ms } = await c.once('rtt');
    assert.ok(ms >= 0 && ms < 5000, `rtt ${ms}`);
  } finally {
    c.close();
  }
});

test('many requests at once are batched and all answered', async () => {
  const { c } = await loggedIn();
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => c.call('sys.ping', { t: i })));
    assert.deepEqual(answers.map((a) => a.t), Array.from({ length: 40 }, (_, i) => i));
  } finally {
    c.close();
  }
});

test('a dropped HTTP transport resumes on a new one and replays the missed pushes', async () => {
  const { c, r } = await loggedIn({ reconnectBaseMs: 50 });
  try {
    await c.selectZone('main');
    const notices = [];
    c.on('sys.notice', (d) => notices.push(d.text));
    const resumed = c.once('resumed', 15000);
    c.dropConnection();
    await shard.admin('POST', '/admin/announce', { text: 'away-1', account_id: r.account_id });
    await shard.admin('POST', '/admin/announce', { text: 'away-2', account_id: r.account_id });
    const res = await resumed;
    assert.equal(res.resync, false);
    assert.ok(await eventually(() => notices.length >= 2), `notices: ${notices}`);
    assert.deepEqual(notices.slice(-2), ['away-1', 'away-2']);
    assert.equal(c.transportName, 'http');
    assert.equal(c.zone, 'main');
    const { zones } = await c.call('zone.list');
    assert.ok(zones.find((z) => z.id === 'main').population >= 1);
  } finally {
    c.close();
  }
});

test('auto: when WebSocket cannot connect, the client falls back to HTTP and stays there', async () => {
  // A path with no WebSocket behind it stands in for a proxy that blocks the upgrade.
  const url = `ws://127.0.0.1:${shard.ports.ws}/blocked-by-proxy`;
  const logs = [];
  const c = await connect(url, { WebSocket, reconnectBaseMs: 50, log: (l, m) => logs.push(m) });
  try {
    assert.equal(c.hello.transport, 'http');
    assert.ok(logs.some((m) => m.includes('trying the HTTP transport')), logs.join('\n'));
    const name = uniqueName('fb');
    await c.register(name, 'pass-word-1');
    await c.login(name, 'pass-word-1');
    const resumed = c.once('resumed', 15000);
    c.dropConnection();
    await resumed;
    assert.equal(c.transportName, 'http');
  } finally {
    c.close();
  }
});

test('closing the client closes its HTTP transport on the server', async () => {
  const c = await connect(shard.wsUrl, { transport: 'http' });
  const metric = async () => {
    const r = await fetch(`http://127.0.0.1:${shard.ports.admin}/metrics`);
    const m = /^shardd_connections\{transport="http"\} (\d+)/m.exec(await r.text());
    return m ? Number(m[1]) : -1;
  };
  assert.ok(await eventually(async () => (await metric()) >= 1));
  c.close();
  assert.ok(await eventually(async () => (await metric()) === 0), 'transport still open');
});

test('a server that is not there fails connect() over HTTP too', async () => {
  await assert.rejects(connect('ws://127.0.0.1:9/ws', { transport: 'http', reconnect: false }),
    { code: 'DISCONNECTED' });
});

test('the HTTP base is derived for the page', () => {
  assert.equal(httpBase(shard.wsUrl), shard.httpBase);
});
