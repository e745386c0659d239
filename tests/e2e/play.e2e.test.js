// The /play client in headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core) against a real shardd: two players register, log in and
// enter a zone; one loses its connection and the page resumes the session; a
// page forced onto the HTTP transport (server-sent events) does the same; the
// two players chat, become friends, whisper, form a party and a guild, and
// one blocks the other.
// Screenshots go to $SHARDD_E2E_ARTIFACTS (default build/e2e-artifacts); any
// console error or uncaught exception in a page fails the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Shard, ROOT, uniqueName } from '../../clients/js/test/harness.js';

const ARTIFACTS = process.env.SHARDD_E2E_ARTIFACTS || join(ROOT, 'build/e2e-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let shard;
let browser;
const pages = [];
const names = {};

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  shard = await new Shard(['session.resume_grace_ms=30000']).start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,  // playwright passes --headless
    args: ['--no-sandbox', '--disable-gpu'],
  });
});

after(async () => {
  await browser?.close();
  await shard?.stop();
});

// A page in its own browser context (own storage: a separate player), with
// its console errors and page errors collected.
async function openPlayer(label, path = '/', viewport = { width: 1100, height: 760 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${label} console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`${label} page error: ${e.message}`));
  const p = { page, errors, label };
  pages.push(p);
  await page.goto(`${shard.httpBase}${path}`);
  assert.equal(new URL(page.url()).pathname, '/play/', `${path} leads to /play/`);
  await page.locator('#conn[data-state="open"]').waitFor();
  return p;
}

async function shot(p, name) {
  await p.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function registerAndEnter(p, name) {
  const { page } = p;
  await page.fill('#username', name);
  await page.fill('#password', 'pass-word-1');
  await page.click('#register');
  await page.locator('#signed-in').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#account-who'), new RegExp(`Logged in as ${name}`));
  await page.locator('#zone-list li[data-zone="main"]').waitFor();
  await page.click('#zone-list button[data-zone="main"]');
  await page.locator('#zone-list li.current[data-zone="main"]').waitFor();
}

function assertNoErrors() {
  const all = pages.flatMap((p) => p.errors);
  assert.deepEqual(all, [], 'console errors in the pages');
}

test('two players register, log in and enter a zone', async () => {
  const a = await openPlayer('alice');
  const b = await openPlayer('bob');
  names.alice = uniqueName('alice');
  names.bob = uniqueName('bob');
  await registerAndEnter(a, names.alice);
  await shot(a, '1-alice-in-zone');
  await registerAndEnter(b, names.bob);
  // Bob's list was fetched after both were in: population 2.
  await b.page.locator('#zone-list [data-population="main"]', { hasText: /^2\// }).waitFor();
  assert.match(await b.page.textContent('#conn-transport'), /^ws$/);
  assert.match(await a.page.textContent('#conn-rtt'), /RTT \d+\.\d ms/);
  await shot(b, '2-bob-in-zone');
  assertNoErrors();
});

test('a page that loses its connection resumes the session', async () => {
  const a = pages[0];
  const { page } = a;
  const session = await page.textContent('#session-id');
  const accountId = await page.evaluate(() => globalThis.shardd.account.account_id);
  await page.click('#drop');
  await page.locator('#resume-state[data-resumed="1"]').waitFor({ timeout: 20000 });
  await page.locator('#conn[data-state="open"]').waitFor();
  // A new connection (new session id in sys.hello), the same logged-in player
  // in the same zone.
  assert.notEqual(await page.textContent('#session-id'), session);
  assert.equal(await page.isVisible('#signed-in'), true);
  assert.equal(await page.evaluate(() => globalThis.shardd.zone), 'main');
  // Pushes reach the resumed session.
  const r = await shard.admin('POST', '/admin/announce', { text: 'welcome back', account_id: accountId });
  assert.equal(r.status, 200, r.body);
  await page.locator('#server-log li', { hasText: 'welcome back' }).waitFor();
  await shot(a, '3-alice-resumed');
  assertNoErrors();
});

test('a reload logs in again with the saved token', async () => {
  const b = pages[1];
  await b.page.reload();
  await b.page.locator('#signed-in').waitFor({ state: 'visible' });
  await b.page.locator('#server-log li', { hasText: 'saved token' }).waitFor();
  await shot(b, '4-bob-after-reload');
  assertNoErrors();
});

test('a page forced onto the HTTP transport plays, drops and resumes', async () => {
  // On a phone-sized screen.
  const c = await openPlayer('carol', '/play/?transport=http', { width: 390, height: 844 });
  const { page } = c;
  assert.equal(await page.textContent('#conn-transport'), 'http');
  // Chromium has EventSource: the SDK reads a server-sent event stream (not long polls).
  assert.equal(await page.evaluate(() => !!globalThis.shardd._transport?.es), true);
  await registerAndEnter(c, uniqueName('carol'));
  await page.locator('#conn-rtt', { hasText: /RTT \d+\.\d ms/ }).waitFor();
  await shot(c, '5-carol-over-http');
  const accountId = await page.evaluate(() => globalThis.shardd.account.account_id);
  await page.click('#drop');
  await page.locator('#resume-state[data-resumed="1"]').waitFor({ timeout: 20000 });
  await page.locator('#conn[data-state="open"]').waitFor();
  assert.equal(await page.textContent('#conn-transport'), 'http');
  assert.equal(await page.evaluate(() => globalThis.shardd.zone), 'main');
  const r = await shard.admin('POST', '/admin/announce', { text: 'back over http', account_id: accountId });
  assert.equal(r.status, 200, r.body);
  await page.locator('#server-log li', { hasText: 'back over http' }).waitFor();
  await shot(c, '6-carol-resumed-over-http');
  assertNoErrors();
});

test('two players chat, become friends, whisper, form a party and a guild, and block', async () => {
  const [a, b] = pages;
  const bobWorld = b.page.locator('#chat-messages li', { hasText: 'hello from alice' });
  await a.page.locator('#chat-tabs [data-channel="world"][aria-selected="true"]').waitFor();
  await a.page.fill('#chat-text', 'hello from alice');
  await a.page.click('#chat-send');
  await bobWorld.waitFor();
  // History: a page opened later shows what was said.
  await b.page.reload();
  await b.page.locator('#signed-in').waitFor({ state: 'visible' });
  await bobWorld.waitFor();
  await shot(b, '7-bob-sees-world-chat');

  // Friends: alice asks, bob accepts, alice sees bob online.
  await a.page.fill('#friend-username', names.bob);
  await a.page.click('#friend-add');
  await a.page.locator('#friend-outgoing li', { hasText: names.bob }).waitFor();
  const request = b.page.locator('#friend-incoming li', { hasText: names.alice });
  await request.waitFor();
  await request.locator('[data-action="accept"]').click();
  const bobInAlicesList = a.page.locator('#friend-list li[data-online="1"]', { hasText: names.bob });
  await bobInAlicesList.waitFor();
  await b.page.locator('#friend-list li', { hasText: names.alice }).waitFor();
  await shot(a, '8-alice-and-bob-are-friends');

  // Whisper from the friends list.
  await bobInAlicesList.locator('[data-action="whisper"]').click();
  await a.page.fill('#chat-text', 'psst, bob');
  await a.page.click('#chat-send');
  const aliceId = await a.page.evaluate(() => globalThis.shardd.account.account_id);
  const tab = b.page.locator(`#chat-tabs [data-channel="w:${aliceId}"]`);
  await tab.waitFor();
  await tab.click();
  await b.page.locator('#chat-messages li', { hasText: 'psst, bob' }).waitFor();
  await shot(b, '9-bob-reads-the-whisper');

  // A party: alice creates it and invites bob from her friends list; bob
  // joins; both see two members and talk in the party channel.
  await a.page.click('#party-create');
  await a.page.locator('#party-members li').waitFor();
  await bobInAlicesList.locator('[data-action="invite"]').click();
  const invite = b.page.locator('#party-invites li', { hasText: names.alice });
  await invite.waitFor();
  await invite.locator('[data-action="accept"]').click();
  await a.page.locator('#party-members li', { hasText: names.bob }).waitFor();
  await b.page.locator('#party-members li[data-leader="1"]', { hasText: names.alice }).waitFor();
  await b.page.click('#chat-tabs [data-channel="party"]');
  await b.page.fill('#chat-text', 'party time');
  await b.page.click('#chat-send');
  await a.page.click('#chat-tabs [data-channel="party"]');
  await a.page.locator('#chat-messages li', { hasText: 'party time' }).waitFor();
  await shot(a, '10-alice-and-bob-in-a-party');
  await b.page.click('#party-leave');
  await a.page.locator('#party-members li', { hasText: names.bob }).waitFor({ state: 'detached' });
  await a.page.click('#chat-tabs [data-channel^="w:"]');

  // A guild: alice founds it and invites bob by his id; bob joins from his
  // waiting invites; alice makes him an officer and sets the message of the
  // day; they talk in the guild channel.
  await a.page.fill('#guild-name', 'Night Owls');
  await a.page.fill('#guild-tag', 'NO');
  await a.page.click('#guild-create button[type="submit"]');
  await a.page.locator('#guild-title', { hasText: '[NO] Night Owls' }).waitFor();
  const bobId = await b.page.evaluate(() => globalThis.shardd.account.account_id);
  await a.page.fill('#guild-invite-id', String(bobId));
  await a.page.click('#guild-invite button[type="submit"]');
  const guildInvite = b.page.locator('#guild-pending li[data-kind="invite"]', { hasText: 'Night Owls' });
  await guildInvite.waitFor();
  await guildInvite.locator('[data-action="accept"]').click();
  await b.page.locator('#guild-title', { hasText: 'Night Owls' }).waitFor();
  const bobInGuild = a.page.locator(`#guild-members li[data-account="${bobId}"]`);
  await bobInGuild.waitFor();
  await bobInGuild.locator('[data-action="role"]').click();
  await b.page.locator(`#guild-members li[data-account="${bobId}"][data-role="officer"]`).waitFor();
  await a.page.fill('#guild-motd-text', 'raid at 8');
  await a.page.click('#guild-motd-form button[type="submit"]');
  await b.page.locator('#guild-motd', { hasText: 'raid at 8' }).waitFor();
  await b.page.click('#chat-tabs [data-channel="guild"]');
  await b.page.fill('#chat-text', 'owls unite');
  await b.page.click('#chat-send');
  await a.page.click('#chat-tabs [data-channel="guild"]');
  await a.page.locator('#chat-messages li', { hasText: 'owls unite' }).waitFor();
  await shot(b, '11-bob-in-alices-guild');
  await a.page.click('#chat-tabs [data-channel^="w:"]');

  // Bob blocks alice: the friendship ends and her whispers are refused.
  await b.page.locator('#friend-list li', { hasText: names.alice }).locator('[data-action="block"]').click();
  await b.page.locator('#block-list li', { hasText: names.alice }).waitFor();
  await a.page.locator('#friend-list li', { hasText: names.bob }).waitFor({ state: 'detached' });
  await a.page.fill('#chat-text', 'are you there?');
  await a.page.click('#chat-send');
  await a.page.locator('#chat-error', { hasText: 'BLOCKED' }).waitFor();
  await shot(a, '12-alice-is-blocked');
  assertNoErrors();
});
