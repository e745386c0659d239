// shardd JavaScript SDK: one ES module, no dependencies, for browsers and
// Node 18+ (where Node has no global WebSocket, pass one in options, e.g. the
// ws package's: connect(url, {WebSocket})). See docs/client.md.
//
//   import { connect } from './shardd.js';
//   const client = await connect('ws://127.0.0.1:7100/ws');
//   await client.login('alice_1', 'correct horse');
//   client.on('zone.update', (d) => console.log(d.zone));
//   const { zones } = await client.call('zone.list');
//
// The client keeps the session alive across network drops: it sends the
// heartbeat (sys.ping, measuring the round trip), reconnects with backoff and
// jitter when the connection drops, and resumes the logged-in session
// (sys.resume with the last push seq it processed), so pushes sent while it
// was away are replayed in order. Requests in flight when the connection
// drops are rejected with code DISCONNECTED (their answers are not replayed).
// Messages are JSON; MessagePack is left to native clients.

/** Version of this SDK. */
export const VERSION = '0.1.0';

// ---------------------------------------------------------------- types

/**
 * The answer to every login form (auth.login, auth.token).
 * @typedef {Object} LoginResult
 * @property {number} account_id
 * @property {string} username
 * @property {string} display_name
 * @property {string} token         for auth.token / Client.loginWithToken
 * @property {string} resume_token  kept by the client for sys.resume
 * @property {Zone[]} zones
 * @property {string} last_zone     "" if none
 */

/**
 * @typedef {Object} Zone
 * @property {string} id
 * @property {string} name
 * @property {string} map
 * @property {number} population
 * @property {number} capacity
 * @property {'low'|'medium'|'high'|'full'} band
 * @property {'open'|'full'|'maintenance'|'closed'} status
 */

/**
 * Another player, as lists show them.
 * @typedef {Object} PlayerRef
 * @property {number} account
 * @property {string} name   display name
 */

/**
 * A friend (friend.list, friend.accept) and the friend.update push.
 * @typedef {Object} Friend
 * @property {number} account
 * @property {string} name
 * @property {'friend'|'removed'} state
 * @property {boolean} online
 * @property {string|null} zone          null before their first zone.select
 * @property {number|null} last_seen_ms  when they last went offline
 * @property {number} [since_ms]         friends since (friend.list, friend.accept)
 */

/**
 * A party (party.info, party.update).
 * @typedef {Object} Party
 * @property {number} id
 * @property {number} leader       account id
 * @property {boolean} open        anyone may join without an invite
 * @property {number} max
 * @property {{account: number, name: string, online: boolean, ready: boolean, leader: boolean}[]} members
 */

/**
 * A guild (guild.info, guild.update); motd only for its members.
 * @typedef {Object} Guild
 * @property {number} id
 * @property {string} name
 * @property {string} tag
 * @property {number} members
 * @property {number} leader      account id
 * @property {number} created_ms
 * @property {number} max_members
 * @property {string} [motd]
 */

/**
 * A guild invite you received or a join request you sent (guild.pending).
 * @typedef {Object} GuildPending
 * @property {number} guild
 * @property {string} name
 * @property {string} tag
 * @property {number} created_ms
 */

/**
 * A chat message (the chat.msg push, chat.history entries).
 * @typedef {Object} ChatMessage
 * @property {number} id              increases within each channel
 * @property {string} channel         'world' | 'zone' | 'whisper' | 'system' | a custom name
 * @property {{id: number, name: string}} from   id 0: the server
 * @property {string} text
 * @property {number} ts              Unix ms
 * @property {number} [to]            whispers: the recipient
 * @property {string} [zone]          zone chat: the zone
 * @property {boolean} [system]       from the server
 * @property {boolean} [offline]      a whisper kept while you were offline
 */

/**
 * sys.hello, pushed by the server when a connection opens.
 * @typedef {Object} Hello
 * @property {string} server
 * @property {string} version
 * @property {number} session
 * @property {'ws'|'wss'|'tcp'|'tls'|'http'|'https'} transport
 * @property {number} heartbeat_ms
 * @property {number} max_frame
 */

/**
 * Every op of the server, with its arguments and its answer: the keys are
 * the op names Client.call takes. (Pushes: see PUSHES.)
 * @typedef {Object} Ops
 * @property {{args: {t?: any}, result: {t: any, server_time_ms: number}}} sys_ping  "sys.ping"
 * @property {{args: {resume_token: string, last_seq?: number}, result: {session: number, resume_token: string, resync: boolean, replayed: number, last_seq: number}}} sys_resume  "sys.resume"
 * @property {{args: {username: string, password: string}, result: {account_id: number, username: string}}} auth_register  "auth.register"
 * @property {{args: {username: string, password: string}, result: LoginResult}} auth_login  "auth.login"
 * @property {{args: {token: string}, result: LoginResult}} auth_token  "auth.token"
 * @property {{args: {}, result: {}}} auth_logout  "auth.logout"
 * @property {{args: {old: string, new: string}, result: {}}} auth_change_password  "auth.change_password"
 * @property {{args: {name: string}, result: {display_name: string}}} account_set_display_name  "account.set_display_name"
 * @property {{args: {password: string}, result: {}}} account_delete  "account.delete"
 * @property {{args: {}, result: {zones: Zone[]}}} zone_list  "zone.list"
 * @property {{args: {zone: string}, result: {zone: string, population: number}}} zone_select  "zone.select"
 * @property {{args: {account?: number, username?: string}, result: {account: number, name: string, state: 'pending'|'friends'}}} friend_request  "friend.request" (one of account, username)
 * @property {{args: {account: number}, result: {friend: Friend}}} friend_accept  "friend.accept"
 * @property {{args: {account: number}, result: {}}} friend_decline  "friend.decline"
 * @property {{args: {account: number}, result: {removed: 'friend'|'request'}}} friend_remove  "friend.remove"
 * @property {{args: {}, result: {friends: Friend[], incoming: (PlayerRef & {ts: number})[], outgoing: (PlayerRef & {ts: number})[]}}} friend_list  "friend.list"
 * @property {{args: {account: number}, result: {}}} social_block  "social.block"
 * @property {{args: {account: number}, result: {}}} social_unblock  "social.unblock"
 * @property {{args: {}, result: {blocks: (PlayerRef & {since_ms: number})[]}}} social_blocks  "social.blocks"
 * @property {{args: {open?: boolean}, result: {party: Party}}} party_create  "party.create"
 * @property {{args: {account: number}, result: {party: number, account: number}}} party_invite  "party.invite"
 * @property {{args: {party: number}, result: {party: Party}}} party_accept  "party.accept"
 * @property {{args: {party: number}, result: {}}} party_decline  "party.decline"
 * @property {{args: {}, result: {}}} party_leave  "party.leave"
 * @property {{args: {account: number}, result: {}}} party_kick  "party.kick"
 * @property {{args: {account: number}, result: {}}} party_promote  "party.promote"
 * @property {{args: {ready: boolean}, result: {}}} party_ready  "party.ready"
 * @property {{args: {}, result: {party: Party|null}}} party_info  "party.info"
 * @property {{args: {name: string, tag: string}, result: {guild: Guild}}} guild_create  "guild.create"
 * @property {{args: {account: number}, result: {guild: number, account: number}}} guild_invite  "guild.invite"
 * @property {{args: {guild: number}, result: {guild: Guild}}} guild_accept  "guild.accept"
 * @property {{args: {guild: number}, result: {}}} guild_decline  "guild.decline"
 * @property {{args: {guild: number}, result: {guild: number}}} guild_join_request  "guild.join_request"
 * @property {{args: {account: number}, result: {guild: number, account: number}}} guild_approve  "guild.approve"
 * @property {{args: {account: number}, result: {guild: number, account: number}}} guild_reject  "guild.reject"
 * @property {{args: {}, result: {disbanded: boolean}}} guild_leave  "guild.leave"
 * @property {{args: {account: number}, result: {}}} guild_kick  "guild.kick"
 * @property {{args: {account: number, role: 'leader'|'officer'|'member'}, result: {}}} guild_set_role  "guild.set_role"
 * @property {{args: {}, result: {}}} guild_disband  "guild.disband"
 * @property {{args: {guild?: number}, result: {guild: Guild|null}}} guild_info  "guild.info"
 * @property {{args: {}, result: {guild: number, members: {account: number, name: string, role: string, online: boolean, joined_ms: number}[]}}} guild_members  "guild.members"
 * @property {{args: {text: string}, result: {}}} guild_motd  "guild.motd"
 * @property {{args: {}, result: {invites: GuildPending[], requests: GuildPending[], max: number}}} guild_pending  "guild.pending"
 * @property {{args: {guild: number}, result: {}}} guild_withdraw  "guild.withdraw"
 * @property {{args: {channel: string, to?: number, text: string, idem?: string}, result: {id: number, ts: number, offline?: boolean}}} chat_send  "chat.send"
 * @property {{args: {channel: string, to?: number, before?: number, limit?: number}, result: {messages: ChatMessage[], more: boolean}}} chat_history  "chat.history"
 * @property {{args: {channel: string}, result: {channel: string, members: number}}} chat_join  "chat.join"
 * @property {{args: {channel: string}, result: {}}} chat_leave  "chat.leave"
 * @property {{args: {}, result: {channels: {channel: string, zone?: string, custom?: boolean}[]}}} chat_channels  "chat.channels"
 */

/** The ops the server has (docs/protocol.md, Operations), for tools and tests. */
export const OPS = Object.freeze([
  'sys.ping', 'sys.resume', 'auth.register', 'auth.login', 'auth.token', 'auth.logout',
  'auth.change_password', 'account.set_display_name', 'account.delete', 'zone.list',
  'zone.select', 'friend.request', 'friend.accept', 'friend.decline', 'friend.remove',
  'friend.list', 'social.block', 'social.unblock', 'social.blocks', 'chat.send', 'chat.history',
  'chat.join', 'chat.leave', 'chat.channels', 'party.create', 'party.invite', 'party.accept',
  'party.decline', 'party.leave', 'party.kick', 'party.promote', 'party.ready', 'party.info',
  'guild.create', 'guild.invite', 'guild.accept', 'guild.decline', 'guild.join_request',
  'guild.approve', 'guild.reject', 'guild.leave', 'guild.kick', 'guild.set_role', 'guild.disband',
  'guild.info', 'guild.members', 'guild.motd', 'guild.pending', 'guild.withdraw',
]);

/**
 * The pushes the server sends (docs/protocol.md, Pushes), with their data:
 * sys.hello {Hello}; sys.shutdown {reason, reconnect_after_ms};
 * sys.close {code, msg}; sys.kicked {reason, msg?}; sys.notice {text, from};
 * zone.update {zone: Zone}; friend.request {from: PlayerRef, ts};
 * friend.update {Friend} (not replayed: call friend.list after a resync);
 * chat.msg {ChatMessage}; chat.deleted {id, channel, to?};
 * chat.muted {channel, until_ms, reason}; party.invite {party, from: PlayerRef,
 * expires_in_ms}; party.update {party: Party|null, reason?} (not replayed:
 * call party.info after a resync); guild.invite {guild, from: PlayerRef};
 * guild.request {guild, from: PlayerRef}; guild.update {guild: Guild|null,
 * reason?} (not replayed: call guild.info after a resync).
 */
export const PUSHES = Object.freeze([
  'sys.hello', 'sys.shutdown', 'sys.close', 'sys.kicked', 'sys.notice', 'zone.update',
  'friend.request', 'friend.update', 'chat.msg', 'chat.deleted', 'chat.muted', 'party.invite',
  'party.update', 'guild.invite', 'guild.request', 'guild.update',
]);

/**
 * A refused request or a client-side failure. `code` is the server's error
 * code (docs/protocol.md, Errors) or one of the SDK's own: DISCONNECTED (the
 * connection dropped before the answer), TIMEOUT (no answer within
 * requestTimeoutMs), CLOSED (the client was closed). Extra fields of the
 * server's error (retry_after_ms, until_ms, capacity, ...) are in `details`.
 */
export class ShardError extends Error {
  /**
   * @param {string} code
   * @param {string} msg
   * @param {Record<string, any>} [details]
   */
  constructor(code, msg, details = {}) {
    super(`${code}: ${msg}`);
    this.name = 'ShardError';
    /** @type {string} */ this.code = code;
    /** @type {string} */ this.msg = msg;
    /** @type {Record<string, any>} */ this.details = details;
    /** Milliseconds to wait before retrying, when the server said so. */
    this.retryAfterMs = typeof details.retry_after_ms === 'number' ? details.retry_after_ms : undefined;
  }
}

// ---------------------------------------------------------------- transports

// A transport carries envelope text both ways. Events: onopen(), onmessage(text),
// onclose({code, reason}). The WebSocket one is the default; the HTTP one
// (server-sent events / long polling) is used when WebSocket cannot connect.
class WsTransport {
  constructor(url, WebSocketImpl) {
    this.name = 'ws';
    this.onopen = () => {};
    this.onmessage = () => {};
    this.onclose = () => {};
    let ws;
    try {
      ws = new WebSocketImpl(url);
    } catch (e) {
      queueMicrotask(() => this.onclose({ code: 1006, reason: String(e && e.message || e) }));
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.onopen();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.onmessage(ev.data);
    };
    let closed = false;
    const closeOnce = (code, reason) => {
      if (closed) return;
      closed = true;
      this.onclose({ code, reason });
    };
    ws.onclose = (ev) => closeOnce(ev.code, ev.reason || '');
    ws.onerror = () => {
      // Browsers follow an error with close; some implementations do not.
      setTimeout(() => closeOnce(1006, 'connection error'), 0);
    };
  }
  send(text) {
    if (this.ws && this.ws.readyState === 1) {
      this.ws.send(text);
      return true;
    }
    return false;
  }
  close(code = 1000, reason = '') {
    if (this.ws && this.ws.readyState <= 1) this.ws.close(code, reason);
  }
  // Drops the connection at once, as a broken network would (tests, the
  // /play page's "lose network" button): no close handshake is awaited.
  drop() {
    if (!this.ws) return;
    const ws = this.ws;
    ws.onclose = null;
    ws.onmessage = null;
    ws.onerror = null;
    try { ws.close(); } catch { /* already closed */ }
    this.onclose({ code: 1006, reason: 'dropped by the client' });
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The HTTP fallback transport (docs/protocol.md, "HTTP fallback"): POST
// /rt/open, then what the server sends from a server-sent event stream
// (EventSource) or, without one, long polls; requests go up by POST
// /rt/{id}/send, batched while one is in flight. Every event has a number:
// the transport keeps the last one it processed (`last`), skips repeats, and
// acknowledges it on each send and poll so the server can forget them.
class HttpTransport {
  constructor(base, { fetch, EventSource, httpPoll }) {
    this.name = 'http';
    this.onopen = () => {};
    this.onmessage = () => {};
    this.onclose = () => {};
    this.base = base;
    this.fetch = fetch || (globalThis.fetch && globalThis.fetch.bind(globalThis));
    this.ES = httpPoll ? null : (EventSource || globalThis.EventSource || null);
    this.id = '';
    this.secret = '';
    this.last = 0;
    this.queue = [];
    this.sending = false;
    this.closed = false;
    this.es = null;
    this.aborts = new Set();
    if (!this.fetch) {
      queueMicrotask(() => this._end(1006, 'no fetch() for the HTTP transport'));
      return;
    }
    this._start();
  }

  async _req(path, init = {}) {
    const ac = new AbortController();
    this.aborts.add(ac);
    try {
      const headers = { ...(init.headers || {}) };
      if (this.secret) headers.Authorization = `Bearer ${this.secret}`;
      const r = await this.fetch(this.base + path, { ...init, headers, signal: ac.signal, cache: 'no-store' });
      let body = null;
      try { body = await r.json(); } catch { body = null; }
      return { status: r.status, body };
    } finally {
      this.aborts.delete(ac);
    }
  }

  async _start() {
    let r;
    try {
      r = await this._req('/rt/open', { method: 'POST' });
    } catch (e) {
      this._end(1006, `HTTP transport: ${e && e.message || e}`);
      return;
    }
    if (this.closed) return;
    if (r.status !== 200 || !r.body) {
      this._end(1006, `HTTP transport refused: ${r.status} ${r.body?.err?.code || ''}`.trim());
      return;
    }
    this.id = r.body.transport;
    this.secret = r.body.secret;
    this.last = r.body.last_event;
    this.onopen();
    this.onmessage(JSON.stringify({ op: 'sys.hello', seq: 0, d: r.body.hello }));
    if (this.closed) return;
    if (this.ES) this._stream(); else this._poll();
  }

  _deliver(no, text) {
    if (this.closed || !(no > this.last)) return;  // a repeat after a reconnect
    this.last = no;
    this.onmessage(text);
  }

  async _poll() {
    let failures = 0;
    while (!this.closed) {
      let r;
      try {
        r = await this._req(`/rt/${this.id}/events?poll=1&last=${this.last}`);
      } catch (e) {
        if (this.closed) return;
        if (++failures >= 3) return this._end(1006, `poll failed: ${e && e.message || e}`);
        await sleep(250 * failures);
        continue;
      }
      if (this.closed) return;
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.events)) {
        return this._end(1006, `HTTP transport ended: ${r.status} ${r.body?.err?.code || ''}`.trim());
      }
      failures = 0;
      const first = r.body.last_event - r.body.events.length + 1;
      r.body.events.forEach((m, i) => this._deliver(first + i, JSON.stringify(m)));
    }
  }

  _stream() {
    let failures = 0;
    const open = () => {
      if (this.closed) return;
      const url = `${this.base}/rt/${this.id}/events?s=${encodeURIComponent(this.secret)}&last=${this.last}`;
      const es = new this.ES(url);
      this.es = es;
      es.onopen = () => { failures = 0; };
      es.onmessage = (ev) => this._deliver(Number(ev.lastEventId), ev.data);
      es.addEventListener('end', (ev) => {
        es.close();
        if (this.closed || this.es !== es) return;
        let code = '';
        try { code = JSON.parse(ev.data).code; } catch { /* keep '' */ }
        this._end(1006, `event stream ended: ${code}`);
      });
      // A broken stream is opened again from the last event (the browser's
      // own retry would too, but without our `last` and without a limit).
      es.onerror = () => {
        es.close();
        if (this.closed || this.es !== es) return;
        if (++failures >= 3) return this._end(1006, 'event stream failed');
        setTimeout(open, 250 * failures);
      };
    };
    open();
  }

  send(text) {
    if (this.closed || !this.id) return false;
    this.queue.push(text);
    if (!this.sending) this._flush();
    return true;
  }

  async _flush() {
    this.sending = true;
    while (this.queue.length && !this.closed) {
      const batch = this.queue.splice(0, 32);
      const body = batch.length === 1 ? batch[0] : `[${batch.join(',')}]`;
      let r;
      try {
        r = await this._req(`/rt/${this.id}/send?ack=${this.last}`, {
          method: 'POST', body, headers: { 'Content-Type': 'application/json' },
        });
      } catch (e) {
        this._end(1006, `send failed: ${e && e.message || e}`);
        break;
      }
      if (r.status !== 202) {
        this._end(r.status === 413 ? 1009 : 1006, `send refused: ${r.status} ${r.body?.err?.code || ''}`.trim());
        break;
      }
    }
    this.sending = false;
  }

  close(code = 1000, reason = '') {
    const { id, secret } = this;
    this._end(code, reason);
    if (id) {
      this.fetch(`${this.base}/rt/${id}/close`, { method: 'POST', headers: { Authorization: `Bearer ${secret}` } })
        .catch(() => {});
    }
  }

  // As a broken network would: nothing more is sent or read; the server
  // notices after http.idle_expiry_ms and keeps the session for a resume.
  drop() {
    this._end(1006, 'dropped by the client');
  }

  _end(code, reason) {
    if (this.closed) return;
    this.closed = true;
    if (this.es) this.es.close();
    this.es = null;
    for (const ac of this.aborts) ac.abort();
    this.aborts.clear();
    this.onclose({ code, reason });
  }
}

/** The HTTP transport's base URL for a WebSocket URL (ws→http, wss→https). */
export function httpBase(url) {
  const m = /^ws(s?):\/\/([^/?#]+)/i.exec(url);
  return m ? `http${m[1]}://${m[2]}` : url.replace(/\/+$/, '');
}

// ---------------------------------------------------------------- client

const DEFAULTS = {
  requestTimeoutMs: 10000,
  connectTimeoutMs: 8000,
  heartbeatMs: 0,          // 0: half the server's heartbeat_ms
  reconnect: true,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10000,
  maxReconnectAttempts: Infinity,
  transport: 'auto',       // 'auto': WebSocket, else HTTP when WebSocket cannot connect; 'ws'; 'http'
  WebSocket: undefined,    // default: globalThis.WebSocket
  fetch: undefined,        // HTTP transport: default globalThis.fetch
  EventSource: undefined,  // HTTP transport: default globalThis.EventSource (else long polling)
  httpPoll: false,         // HTTP transport: long polling even where EventSource exists
  log: undefined,          // (level, message) => void
};

/**
 * A connection to shardd that survives drops. Create with connect().
 *
 * Events (client.on(name, fn)): any push op ('zone.update', 'sys.notice', ...)
 * with its data; 'state' {state, previous} where state is 'connecting',
 * 'open', 'reconnecting' or 'closed'; 'rtt' {ms}; 'resumed' {resync, replayed};
 * 'resync' {} (pushes were lost: re-fetch state); 'relogin' LoginResult (the
 * session expired and the client logged in again with its token);
 * 'loggedout' {code, msg} (the session could not be resumed or was ended:
 * KICKED, BANNED, SESSION_EXPIRED); 'shutdown' {reason, reconnect_after_ms};
 * 'kicked' {reason, msg}; 'closed' {code, msg} (the client gave up).
 */
export class Client {
  /**
   * @param {string} url  ws(s)://host:port/ws
   * @param {Partial<typeof DEFAULTS>} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...options };
    /** @type {'connecting'|'open'|'reconnecting'|'closed'} */
    this.state = 'connecting';
    /** @type {Hello|null} */ this.hello = null;
    /** The highest non-zero push seq processed (sent as last_seq on resume). */
    this.lastSeq = 0;
    /** Last measured round trip of sys.ping, in ms (NaN until measured). */
    this.rtt = NaN;
    /** @type {LoginResult|null} */ this.account = null;
    this.resumeToken = '';
    this.token = '';
    this.zone = '';
    this.reconnects = 0;
    this._listeners = new Map();
    this._pending = new Map();
    this._rid = 0;
    this._transport = null;
    this._heartbeat = null;
    this._reconnectTimer = null;
    this._attempt = 0;
    this._closedByUser = false;
    this._noResume = false;
    this._openWaiters = [];
    this._everOpened = false;
  }

  // ------------------------------------------------------------ events

  /**
   * Subscribes to a push op or a client event. Returns the unsubscribe function.
   * @param {string} name
   * @param {(data: any) => void} fn
   */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this._listeners.get(name)?.delete(fn);
  }

  /** Resolves with the next event or push `name` (rejects after timeoutMs). */
  once(name, timeoutMs = this.options.requestTimeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new ShardError('TIMEOUT', `no ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(name, (d) => {
        clearTimeout(timer);
        off();
        resolve(d);
      });
    });
  }

  _emit(name, data) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(data);
      } catch (e) {
        this._log('error', `listener for ${name} threw: ${e && e.stack || e}`);
      }
    }
  }

  _log(level, msg) {
    if (this.options.log) this.options.log(level, msg);
  }

  _setState(state) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous });
  }

  // ------------------------------------------------------------ requests

  /**
   * Sends a request and resolves with its answer's data, or rejects with a
   * ShardError. See Ops for the ops and their shapes.
   * @param {string} op
   * @param {Record<string, any>} [d]
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<any>}
   */
  call(op, d = {}, opts = {}) {
    if (this.state === 'closed') {
      return Promise.reject(new ShardError('CLOSED', 'the client is closed'));
    }
    if (this.state !== 'open' || !this._transport) {
      return Promise.reject(new ShardError('DISCONNECTED', 'not connected (reconnecting)'));
    }
    return this._send(op, d, opts.timeoutMs ?? this.options.requestTimeoutMs);
  }

  _send(op, d, timeoutMs) {
    const rid = ++this._rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(rid);
        reject(new ShardError('TIMEOUT', `${op}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(rid, { op, resolve, reject, timer });
      if (!this._transport.send(JSON.stringify({ op, rid, d }))) {
        clearTimeout(timer);
        this._pending.delete(rid);
        reject(new ShardError('DISCONNECTED', `${op}: not connected`));
      }
    });
  }

  _failPending(code, msg) {
    for (const [rid, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new ShardError(code, `${p.op}: ${msg}`));
      this._pending.delete(rid);
    }
  }

  // ------------------------------------------------------------ accounts

  /** auth.register. Passwords are sent in Unicode NFC (docs/protocol.md). */
  register(username, password) {
    return this.call('auth.register', { username, password: password.normalize('NFC') });
  }

  /**
   * auth.login; keeps the login and resume tokens for reconnects.
   * @returns {Promise<LoginResult>}
   */
  async login(username, password) {
    const r = await this.call('auth.login', { username, password: password.normalize('NFC') });
    this._loggedIn(r);
    return r;
  }

  /**
   * auth.token with a token from an earlier login.
   * @returns {Promise<LoginResult>}
   */
  async loginWithToken(token) {
    const r = await this.call('auth.token', { token });
    this._loggedIn(r);
    return r;
  }

  /** auth.logout: ends the session (the connection stays open). */
  async logout() {
    await this.call('auth.logout');
    this.account = null;
    this.resumeToken = '';
    this.token = '';
    this.zone = '';
  }

  /** zone.select; remembers the zone. */
  async selectZone(zone) {
    const r = await this.call('zone.select', { zone });
    this.zone = r.zone;
    return r;
  }

  _loggedIn(r) {
    this.account = r;
    this.token = r.token;
    this.resumeToken = r.resume_token;
    this.zone = r.last_zone || '';
    this._noResume = false;
  }

  // ------------------------------------------------------------ connection

  /** Resolves once the connection is open (after sys.hello, and the resume). */
  ready() {
    if (this.state === 'open') return Promise.resolve(this);
    if (this.state === 'closed') return Promise.reject(new ShardError('CLOSED', 'the client is closed'));
    return new Promise((resolve, reject) => this._openWaiters.push({ resolve, reject }));
  }

  /** Closes the connection for good (logged-in sessions stay resumable on the server until their grace ends). */
  close() {
    this._closedByUser = true;
    clearTimeout(this._reconnectTimer);
    this._stopHeartbeat();
    const t = this._transport;
    this._transport = null;
    if (t) t.close(1000, 'client closed');
    this._failPending('CLOSED', 'the client was closed');
    this._finish('CLOSED', 'the client was closed');
  }

  /**
   * Drops the connection without a close handshake, as a broken network
   * would; the client then reconnects and resumes. For tests and demos.
   */
  dropConnection() {
    if (this._transport) this._transport.drop();
  }

  _finish(code, msg) {
    if (this.state === 'closed') return;
    this._setState('closed');
    for (const w of this._openWaiters.splice(0)) w.reject(new ShardError(code, msg));
    this._emit('closed', { code, msg });
  }

  _open() {
    const mode = this.options.transport;
    const WS = this.options.WebSocket || globalThis.WebSocket;
    const http = () => new HttpTransport(httpBase(this.url), this.options);
    if (mode === 'http' || (mode === 'auto' && (this._httpSticky || !WS))) {
      this._attach(http(), null);
      return;
    }
    if (!WS) {
      this._finish('NO_TRANSPORT', 'no WebSocket implementation: pass options.WebSocket (e.g. the ws package)');
      return;
    }
    // 'auto': a WebSocket that cannot connect is retried at once over HTTP.
    const fallback = mode === 'auto' ? () => {
      this._log('info', 'WebSocket could not connect; trying the HTTP transport');
      this._attach(http(), null);
      return true;
    } : null;
    this._attach(new WsTransport(this.url, WS), fallback);
  }

  // Wires a transport to the client. `beforeHello` (if any) is called when it
  // closes before sys.hello; returning true means it took over the attempt.
  _attach(t, beforeHello) {
    this._transport = t;
    this.hello = null;
    let opened = false;
    const connectTimer = setTimeout(() => {
      if (!this.hello && this._transport === t) t.drop();
    }, this.options.connectTimeoutMs);
    t.onopen = () => { opened = true; };
    t.onmessage = (text) => this._onText(text, t);
    t.onclose = ({ code, reason }) => {
      clearTimeout(connectTimer);
      if (this._transport !== t) return;
      this._transport = null;
      if (!this.hello && beforeHello && !this._closedByUser && beforeHello()) return;
      this._onDrop(code, reason, opened);
    };
  }

  /** The transport in use: 'ws' or 'http' ('' while not connected). */
  get transportName() {
    return this._transport ? this._transport.name : '';
  }

  _onText(text, t) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      this._log('warn', 'unparsable message from the server');
      return;
    }
    if (m.rid !== undefined && m.rid !== null && m.op === undefined) {
      const p = this._pending.get(m.rid);
      if (!p) return;  // timed out already
      this._pending.delete(m.rid);
      clearTimeout(p.timer);
      if (m.ok) {
        p.resolve(m.d ?? {});
      } else {
        const { code = 'INTERNAL', msg = '', ...details } = m.err || {};
        p.reject(new ShardError(code, msg, details));
      }
      return;
    }
    if (typeof m.op !== 'string') return;
    if (typeof m.seq === 'number' && m.seq > 0) {
      if (m.seq <= this.lastSeq) return;  // already processed (never expected)
      this.lastSeq = m.seq;
    }
    const d = m.d ?? {};
    switch (m.op) {
      case 'sys.hello':
        this.hello = d;
        // WebSocket failed and HTTP works: this network blocks WebSocket,
        // so reconnects go straight to HTTP.
        if (t.name === 'http' && this.options.transport === 'auto') this._httpSticky = true;
        this._onHello(t);
        break;
      case 'sys.shutdown':
        this._shutdownDelay = d.reconnect_after_ms;
        this._emit('shutdown', d);
        break;
      case 'sys.kicked':
        this._noResume = true;  // the session is over: a resume would fail
        this._emit('kicked', d);
        break;
      case 'sys.close':
        this._closeReason = d;
        if (d.code === 'KICKED' || d.code === 'BANNED') this._noResume = true;
        break;
      default:
        break;
    }
    this._emit(m.op, d);
  }

  async _onHello(t) {
    const resuming = this.resumeToken && this.reconnects > 0 && !this._noResume;
    if (resuming) {
      try {
        const r = await this._send('sys.resume', { resume_token: this.resumeToken, last_seq: this.lastSeq },
          this.options.requestTimeoutMs);
        this.resumeToken = r.resume_token;
        this._opened();
        this._emit('resumed', { resync: r.resync, replayed: r.replayed });
        if (r.resync) this._emit('resync', {});
        return;
      } catch (e) {
        if (this._transport !== t) return;  // dropped again meanwhile
        if (!(e instanceof ShardError) || e.code !== 'SESSION_EXPIRED') {
          t.drop();  // try again later
          return;
        }
        this.resumeToken = '';
        this._opened();
        if (this.token) {
          try {
            const r = await this.loginWithToken(this.token);
            this._emit('relogin', r);
            return;
          } catch (e2) {
            this._loggedOut(e2.code || 'SESSION_EXPIRED', e2.msg || String(e2));
            return;
          }
        }
        this._loggedOut('SESSION_EXPIRED', e.msg);
        return;
      }
    }
    if (this.reconnects > 0 && this.account) this._loggedOut(this._noResume ? 'KICKED' : 'SESSION_EXPIRED', 'the session ended');
    this._opened();
  }

  _loggedOut(code, msg) {
    this.account = null;
    this.resumeToken = '';
    this.zone = '';
    this._emit('loggedout', { code, msg });
  }

  _opened() {
    this._attempt = 0;
    this._everOpened = true;
    this._startHeartbeat();
    this._setState('open');
    for (const w of this._openWaiters.splice(0)) w.resolve(this);
  }

  _onDrop(code, reason, opened) {
    this._stopHeartbeat();
    this._failPending('DISCONNECTED', `connection lost (${code}${reason ? ' ' + reason : ''})`);
    if (this._closedByUser) return;
    const close = this._closeReason;
    this._closeReason = null;
    if (close && (close.code === 'BANNED')) {
      this._finish(close.code, close.msg);
      return;
    }
    if (!this._everOpened) {
      // connect() rejects: the first connection never opened.
      this._finish('DISCONNECTED', `could not connect to ${this.url} (${code}${reason ? ' ' + reason : ''})`);
      return;
    }
    if (!this.options.reconnect || this._attempt >= this.options.maxReconnectAttempts) {
      this._finish('DISCONNECTED', `connection lost (${code})${opened ? '' : ': could not connect'}`);
      return;
    }
    this._setState('reconnecting');
    const shutdown = this._shutdownDelay;
    this._shutdownDelay = undefined;
    // Exponential backoff with full jitter; after a server shutdown, at least
    // the server's reconnect_after_ms (spread by up to half of it).
    const base = Math.min(this.options.reconnectMaxMs, this.options.reconnectBaseMs * 2 ** this._attempt);
    let delay = Math.random() * base;
    if (typeof shutdown === 'number') delay = shutdown + Math.random() * shutdown * 0.5;
    if (close && typeof close.retry_after_ms === 'number') delay = Math.max(delay, close.retry_after_ms);
    this._attempt++;
    this._reconnectTimer = setTimeout(() => {
      this.reconnects++;
      this._open();
    }, delay);
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    const serverMs = (this.hello && this.hello.heartbeat_ms) || 5000;
    const every = this.options.heartbeatMs || Math.max(250, Math.floor(serverMs / 2));
    const tick = async () => {
      const t0 = now();
      try {
        const r = await this._send('sys.ping', { t: t0 }, Math.max(every * 2, 2000));
        this.rtt = now() - r.t;
        this._emit('rtt', { ms: this.rtt });
      } catch (e) {
        // A ping that gets no answer means a dead path the OS has not
        // noticed yet: drop and resume on a fresh connection.
        if (e.code === 'TIMEOUT' && this._transport) this._transport.drop();
      }
    };
    this._heartbeat = setInterval(tick, every);
    tick();
  }

  _stopHeartbeat() {
    if (this._heartbeat) clearInterval(this._heartbeat);
    this._heartbeat = null;
  }
}

function now() {
  return (globalThis.performance && performance.now) ? performance.now() : Date.now();
}

/**
 * Connects and resolves once the server said hello.
 * @param {string} url  e.g. ws://127.0.0.1:7100/ws (in a page: wsUrl())
 * @param {Partial<typeof DEFAULTS>} [options]
 * @returns {Promise<Client>}
 */
export function connect(url, options = {}) {
  const c = new Client(url, options);
  const ready = c.ready();
  c._open();
  return ready;
}

/** The WebSocket URL of the server that served the current page. */
export function wsUrl(path = '/ws') {
  const l = globalThis.location;
  return `${l.protocol === 'https:' ? 'wss:' : 'ws:'}//${l.host}${path}`;
}
