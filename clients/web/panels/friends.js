// Friends with presence, friend requests (send, accept, decline, cancel),
// blocks. Live through friend.request and friend.update; re-fetched after a
// resync (friend.update is not replayed). "Whisper" opens a conversation in
// the chat panel (a `whisper` event on document).
import { actions, errorText } from '../ui.js';

export function mount(section, { client, log, h }) {
  const hint = h('p', { class: 'muted', id: 'friends-hint' }, 'Log in to see your friends.');
  const name = h('input', { id: 'friend-username', name: 'friend', placeholder: 'username',
                            autocomplete: 'off', maxlength: 24, required: true });
  const add = h('form', { id: 'friend-form', class: 'row inline' }, name,
    h('button', { type: 'submit', id: 'friend-add' }, 'Add friend'));
  const error = h('p', { class: 'error', id: 'friend-error', role: 'alert' });
  const incoming = h('ul', { class: 'people', id: 'friend-incoming' });
  const outgoing = h('ul', { class: 'people', id: 'friend-outgoing' });
  const friends = h('ul', { class: 'people', id: 'friend-list' });
  const blocks = h('ul', { class: 'people', id: 'block-list' });
  const body = h('div', { id: 'friends-body', class: 'hidden' }, add, error,
    h('h3', {}, 'Requests'), incoming, outgoing,
    h('h3', {}, 'Friends'), friends,
    h('h3', {}, 'Blocked'), blocks);
  section.append(hint, body);

  let state = { friends: [], incoming: [], outgoing: [], blocks: [] };
  let inParty = false;

  const run = actions(error, log);
  const act = async (what, fn) => {
    await run(what, fn);
    await refresh();
  };
  const whisper = (f) => document.dispatchEvent(new CustomEvent('whisper', { detail: f }));
  const block = (f) => act(`blocked ${f.name}`, () => client.call('social.block', { account: f.account }));

  const seen = (f) => {
    if (f.online) return f.zone ? `online · ${f.zone}` : 'online';
    return f.last_seen_ms ? `seen ${new Date(f.last_seen_ms).toLocaleString()}` : 'offline';
  };
  const render = () => {
    const a = !!client.account;
    hint.classList.toggle('hidden', a);
    body.classList.toggle('hidden', !a);
    incoming.replaceChildren(...state.incoming.map((r) => h('li', { 'data-account': r.account },
      h('span', {}, h('strong', {}, r.name), ' wants to be friends'),
      h('span', { class: 'row' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'accept',
                      onclick: () => act(`friends with ${r.name}`, () => client.call('friend.accept', { account: r.account })) }, 'Accept'),
        h('button', { type: 'button', 'data-action': 'decline',
                      onclick: () => act(`declined ${r.name}`, () => client.call('friend.decline', { account: r.account })) }, 'Decline')))));
    outgoing.replaceChildren(...state.outgoing.map((r) => h('li', { 'data-account': r.account },
      h('span', {}, 'asked ', h('strong', {}, r.name)),
      h('button', { type: 'button', 'data-action': 'cancel',
                    onclick: () => act(`request to ${r.name} withdrawn`, () => client.call('friend.remove', { account: r.account })) }, 'Cancel'))));
    friends.replaceChildren(...state.friends.map((f) => h('li', { 'data-account': f.account, 'data-online': f.online ? '1' : '0' },
      h('span', {}, h('span', { class: 'dot' }), ' ', h('strong', {}, f.name), ' ', h('span', { class: 'muted presence' }, seen(f))),
      h('span', { class: 'row' },
        h('button', { type: 'button', 'data-action': 'whisper', onclick: () => whisper(f) }, 'Whisper'),
        inParty && f.online ? h('button', { type: 'button', 'data-action': 'invite',
                                            onclick: () => document.dispatchEvent(new CustomEvent('party-invite', { detail: f })) }, 'Invite') : null,
        h('button', { type: 'button', 'data-action': 'remove',
                      onclick: () => act(`removed ${f.name}`, () => client.call('friend.remove', { account: f.account })) }, 'Remove'),
        h('button', { type: 'button', 'data-action': 'block', onclick: () => block(f) }, 'Block')))));
    if (!state.friends.length) friends.append(h('li', { class: 'muted' }, 'No friends yet.'));
    blocks.replaceChildren(...state.blocks.map((b) => h('li', { 'data-account': b.account },
      h('strong', {}, b.name),
      h('button', { type: 'button', 'data-action': 'unblock',
                    onclick: () => act(`unblocked ${b.name}`, () => client.call('social.unblock', { account: b.account })) }, 'Unblock'))));
  };
  const refresh = async () => {
    if (!client.account) {
      state = { friends: [], incoming: [], outgoing: [], blocks: [] };
      return render();
    }
    try {
      const [f, b] = await Promise.all([client.call('friend.list'), client.call('social.blocks')]);
      state = { ...f, blocks: b.blocks };
    } catch (e) {
      error.textContent = errorText(e);
    }
    render();
  };

  add.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const who = name.value.trim();
    act(`friend request to ${who}`, async () => {
      const r = await client.call('friend.request', { username: who });
      if (r.state === 'friends') log('ok', `you and ${r.name} are friends`);
      name.value = '';
    });
  });
  client.on('friend.request', ({ from }) => {
    log('info', `${from.name} wants to be friends`);
    refresh();
  });
  client.on('friend.update', (u) => {
    const i = state.friends.findIndex((f) => f.account === u.account);
    if (u.state === 'removed' || i < 0) return refresh();  // a new or lost friendship: the whole list
    state.friends[i] = { ...state.friends[i], ...u };
    render();
  });
  client.on('resync', refresh);
  client.on('relogin', refresh);
  document.addEventListener('login', refresh);
  document.addEventListener('logout', refresh);
  document.addEventListener('block', (ev) => block(ev.detail));
  document.addEventListener('party', (ev) => {
    if (inParty !== !!ev.detail) {
      inParty = !!ev.detail;
      render();
    }
  });
  render();
}
