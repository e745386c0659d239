// Chat: a tab per channel (world, your zone, the custom channels you joined,
// and one per whisper conversation), history scroll-back ("Older"), sending,
// joining and leaving channels, whispering and blocking from a message.
// chat.msg is replayed on resume, so a drop loses nothing; after a resync
// the open tab is fetched again.
import { errorText } from '../ui.js';

const PAGE = 30;

// An idempotency key per message (crypto.randomUUID needs a secure context;
// getRandomValues does not).
const idem = () => Array.from(crypto.getRandomValues(new Uint8Array(12)),
  (b) => b.toString(16).padStart(2, '0')).join('');

export function mount(section, { client, log, h }) {
  const hint = h('p', { class: 'muted', id: 'chat-hint' }, 'Log in to chat.');
  const tabs = h('div', { class: 'tabs', id: 'chat-tabs', role: 'tablist' });
  const older = h('button', { type: 'button', id: 'chat-older', class: 'hidden' }, 'Older messages');
  const list = h('ul', { class: 'chat', id: 'chat-messages', 'aria-live': 'polite' });
  const text = h('input', { id: 'chat-text', name: 'text', autocomplete: 'off', maxlength: 500,
                            placeholder: 'Say something', required: true });
  const form = h('form', { id: 'chat-form', class: 'row inline' }, text,
    h('button', { type: 'submit', id: 'chat-send', class: 'primary' }, 'Send'));
  const joinName = h('input', { id: 'chat-join-name', placeholder: 'channel', maxlength: 24,
                                autocomplete: 'off', pattern: '[A-Za-z0-9_\\-]+' });
  const join = h('form', { id: 'chat-join', class: 'row inline' }, joinName,
    h('button', { type: 'submit' }, 'Join'),
    h('button', { type: 'button', id: 'chat-leave', class: 'hidden' }, 'Leave'));
  const error = h('p', { class: 'error', id: 'chat-error', role: 'alert' });
  const body = h('div', { id: 'chat-body', class: 'hidden' }, tabs, older, list, form, error, join);
  section.append(hint, body);

  // key -> {label, channel, to?, messages: Map(id -> msg), more, loaded}
  let channels = new Map();
  let current = 'world';
  const keyOf = (m) => (m.channel === 'whisper'
    ? `w:${m.from.id === client.account?.account_id ? m.to : m.from.id}` : m.channel);
  const ensure = (key, label, channel, to) => {
    if (!channels.has(key)) channels.set(key, { label, channel, to, messages: new Map(), more: false, loaded: false, unread: 0 });
    return channels.get(key);
  };

  const line = (m) => {
    const mine = m.from.id === client.account?.account_id;
    const who = m.system ? h('strong', { class: 'system' }, 'System')
      : h('strong', {}, m.from.name);
    const actions = mine || m.system ? [] : [
      h('button', { type: 'button', class: 'link', 'data-action': 'whisper', title: `Whisper to ${m.from.name}`,
                    onclick: () => openWhisper({ account: m.from.id, name: m.from.name }) }, '↩'),
      h('button', { type: 'button', class: 'link', 'data-action': 'block', title: `Block ${m.from.name}`,
                    onclick: () => document.dispatchEvent(new CustomEvent('block', { detail: { account: m.from.id, name: m.from.name } })) }, '⊘'),
    ];
    return h('li', { 'data-id': m.id, class: m.system ? 'system' : mine ? 'mine' : '' },
      h('span', { class: 'muted time' }, new Date(m.ts).toLocaleTimeString()), ' ', who,
      m.offline ? h('span', { class: 'muted' }, ' (while you were away)') : null, ': ',
      h('span', { class: 'text' }, m.text), ...actions);
  };

  const render = () => {
    const a = !!client.account;
    hint.classList.toggle('hidden', a);
    body.classList.toggle('hidden', !a);
    tabs.replaceChildren(...[...channels.entries()].map(([key, c]) => h('button', {
      type: 'button', role: 'tab', 'data-channel': key, 'aria-selected': key === current ? 'true' : 'false',
      class: key === current ? 'tab current' : 'tab', onclick: () => show(key),
    }, c.label, c.unread ? h('span', { class: 'badge' }, String(c.unread)) : null)));
    const c = channels.get(current);
    const msgs = c ? [...c.messages.values()].sort((x, y) => x.id - y.id) : [];
    list.replaceChildren(...msgs.map(line));
    list.scrollTop = list.scrollHeight;
    older.classList.toggle('hidden', !c?.more);
    document.getElementById('chat-leave').classList.toggle('hidden', !c?.custom);
    text.placeholder = c ? `Message ${c.label}` : '';
  };

  const load = async (key, before) => {
    const c = channels.get(key);
    if (!c) return;
    const q = { channel: c.channel, limit: PAGE };
    if (c.to) q.to = c.to;
    if (before) q.before = before;
    try {
      const r = await client.call('chat.history', q);
      for (const m of r.messages) c.messages.set(m.id, m);
      c.more = r.more;
      c.loaded = true;
    } catch (e) {
      error.textContent = errorText(e);
    }
    if (key === current) render();
  };
  const show = (key) => {
    current = key;
    const c = channels.get(key);
    if (c) c.unread = 0;
    render();
    if (c && !c.loaded) load(key);
  };
  const openWhisper = ({ account, name }) => {
    ensure(`w:${account}`, `@${name}`, 'whisper', account);
    show(`w:${account}`);
    text.focus();
  };

  const refresh = async () => {
    channels = new Map();
    if (!client.account) {
      current = 'world';
      return render();
    }
    try {
      const r = await client.call('chat.channels');
      for (const c of r.channels) {
        const label = c.channel === 'zone' ? `zone ${c.zone}` : c.channel;
        const entry = ensure(c.channel, label, c.channel);
        entry.custom = !!c.custom;
      }
    } catch (e) {
      error.textContent = errorText(e);
    }
    if (!channels.has(current)) current = 'world';
    show(current);
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = channels.get(current);
    if (!c || !text.value.trim()) return;
    error.textContent = '';
    const d = { channel: c.channel, text: text.value, idem: idem() };
    if (c.to) d.to = c.to;
    try {
      const r = await client.call('chat.send', d);
      if (r.offline) log('info', `${c.label} is offline: the whisper waits for them`);
      text.value = '';
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  older.addEventListener('click', () => {
    const c = channels.get(current);
    const first = c && Math.min(...c.messages.keys());
    if (c && Number.isFinite(first)) load(current, first);
  });
  join.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      const r = await client.call('chat.join', { channel: joinName.value.trim() });
      ensure(r.channel, r.channel, r.channel).custom = true;
      joinName.value = '';
      log('ok', `joined #${r.channel} (${r.members} here)`);
      show(r.channel);
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  document.getElementById('chat-leave').addEventListener('click', async () => {
    const c = channels.get(current);
    if (!c?.custom) return;
    try {
      await client.call('chat.leave', { channel: c.channel });
      channels.delete(current);
      show('world');
    } catch (e) {
      error.textContent = errorText(e);
    }
  });

  client.on('chat.msg', (m) => {
    if (!client.account) return;
    const key = keyOf(m);
    const c = m.channel === 'whisper'
      ? ensure(key, `@${m.from.id === client.account.account_id ? m.to : m.from.name}`, 'whisper', m.from.id === client.account.account_id ? m.to : m.from.id)
      : m.channel === 'system' ? ensure('system', 'system', 'system') : channels.get(key);
    if (!c) return;
    c.messages.set(m.id, m);
    if (key !== current) c.unread += 1;
    render();
  });
  client.on('chat.deleted', ({ id }) => {
    for (const c of channels.values()) c.messages.delete(id);
    render();
  });
  client.on('chat.muted', ({ channel, until_ms, reason }) => {
    log('warn', `muted${channel ? ` in ${channel}` : ''} until ${new Date(until_ms).toLocaleTimeString()} (${reason})`);
  });
  client.on('resync', refresh);
  client.on('relogin', refresh);
  document.addEventListener('login', refresh);
  document.addEventListener('logout', refresh);
  document.addEventListener('zone', refresh);
  document.addEventListener('whisper', (ev) => openWhisper(ev.detail));
  // The party and guild panels tell when there is one (a tab) or none.
  for (const group of ['party', 'guild']) {
    document.addEventListener(group, (ev) => {
      if (!client.account) return;
      if (ev.detail && !channels.has(group)) {
        ensure(group, group, group);
        render();
      } else if (!ev.detail && channels.has(group)) {
        channels.delete(group);
        if (current === group) current = 'world';
        render();
      }
    });
  }
  render();
}
