// The /play client as served by shardd: redirects, files with their content
// types, caching and security headers, and nothing outside the web root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Shard } from './harness.js';

let shard;
before(async () => { shard = await new Shard().start(); });
after(async () => { await shard?.stop(); });

const get = (path, headers = {}) => fetch(`${shard.httpBase}${path}`, { redirect: 'manual', headers });

test('/ and /play redirect to /play/', async () => {
  for (const p of ['/', '/play']) {
    const r = await get(p);
    assert.ok([301, 302].includes(r.status), `${p}: ${r.status}`);
    assert.equal(r.headers.get('location'), '/play/');
  }
});

test('the page, its scripts and styles come with the right types and a CSP', async () => {
  const page = await get('/play/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(await page.text(), /<script type="module" src="app.js">/);
  for (const [p, type] of [['/play/app.js', /^text\/javascript/], ['/play/style.css', /^text\/css/],
    ['/play/shardd.js', /^text\/javascript/], ['/play/panels/zones.js', /^text\/javascript/]]) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), type, p);
    await r.arrayBuffer();
  }
});

test('an unchanged file revalidates with 304', async () => {
  const first = await get('/play/app.js');
  const etag = first.headers.get('etag');
  assert.ok(etag);
  await first.arrayBuffer();
  const again = await get('/play/app.js', { 'if-none-match': etag });
  assert.equal(again.status, 304);
  const head = await fetch(`${shard.httpBase}/play/app.js`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), first.headers.get('content-length'));
});

test('nothing outside the web root, no hidden files, folders get their slash', async () => {
  for (const p of ['/play/../config/shardd.toml', '/play/%2e%2e/README.md', '/play/.git/config',
    '/play/nope.js', '/play/app.js/', '/play//app.js', '/other']) {
    const r = await get(p);
    assert.equal(r.status, 404, p);
    await r.arrayBuffer();
  }
  const r = await get('/play/panels');
  assert.equal(r.status, 301);
  assert.equal(r.headers.get('location'), '/play/panels/');
  const post = await fetch(`${shard.httpBase}/play/`, { method: 'POST', body: 'x' });
  assert.ok([405, 413].includes(post.status), String(post.status));
});

test('without ws.web_root the client is not served, and says why', async () => {
  const s = await new Shard(['ws.web_root=']).start();
  try {
    const r = await fetch(`http://127.0.0.1:${s.ports.ws}/play/`);
    assert.equal(r.status, 404);
    assert.match(await r.text(), /ws\.web_root/);
  } finally {
    await s.stop();
  }
});
