// The guild: create one, invites received and join requests sent
// (guild.pending: join, decline, withdraw), ask to join by id; in a guild,
// its tag, name and message of the day, members with role and online state,
// invite by account id, join requests to approve (officers and the leader,
// from guild.request pushes), the message of the day, leave. Live through
// guild.update; guild.info after a resync (guild.update is not replayed).
import { actions } from '../ui.js';

export function mount(section, { client, log, h }) {
  const hint = h('p', { class: 'muted', id: 'guild-hint' }, 'Log in to found or join a guild.');
  const name = h('input', { id: 'guild-name', placeholder: 'guild name', maxlength: 24, autocomplete: 'off' });
  const tag = h('input', { id: 'guild-tag', placeholder: 'tag', maxlength: 5, size: 5, autocomplete: 'off' });
  const create = h('form', { class: 'row', id: 'guild-create' }, name, tag,
    h('button', { type: 'submit' }, 'Found guild'));
  const askId = h('input', { id: 'guild-ask-id', placeholder: 'guild id', inputmode: 'numeric', size: 8 });
  const ask = h('form', { class: 'row', id: 'guild-ask' }, askId, h('button', { type: 'submit' }, 'Ask to join'));
  const pendingList = h('ul', { class: 'people', id: 'guild-pending' });
  const outside = h('div', { id: 'guild-outside' }, pendingList, create, ask);

  const title = h('h3', { id: 'guild-title' });
  const motd = h('p', { class: 'muted', id: 'guild-motd' });
  const members = h('ul', { class: 'people', id: 'guild-members' });
  const requests = h('ul', { class: 'people', id: 'guild-requests' });
  const inviteId = h('input', { id: 'guild-invite-id', placeholder: 'account id', inputmode: 'numeric', size: 8 });
  const invite = h('form', { class: 'row', id: 'guild-invite' }, inviteId, h('button', { type: 'submit' }, 'Invite'));
  const motdText = h('input', { id: 'guild-motd-text', placeholder: 'message of the day', maxlength: 500 });
  const motdForm = h('form', { class: 'row', id: 'guild-motd-form' }, motdText, h('button', { type: 'submit' }, 'Set'));
  const leave = h('button', { type: 'button', id: 'guild-leave' }, 'Leave guild');
  const inside = h('div', { id: 'guild-inside', class: 'hidden' }, title, motd, members, requests, invite, motdForm, leave);

  const error = h('p', { class: 'error', id: 'guild-error', role: 'alert' });
  const body = h('div', { id: 'guild-body', class: 'hidden' }, outside, inside, error);
  section.append(hint, body);

  let guild = null;
  let roster = [];                 // guild.members
  let pending = { invites: [], requests: [] };
  const asking = new Map();        // account -> from (guild.request pushes, for officers)

  const act = actions(error, log);
  const me = () => client.account?.account_id;
  const myRole = () => roster.find((m) => m.account === me())?.role;
  const officer = () => ['leader', 'officer'].includes(myRole());

  const render = () => {
    const a = !!client.account;
    hint.classList.toggle('hidden', a);
    body.classList.toggle('hidden', !a);
    outside.classList.toggle('hidden', !!guild);
    inside.classList.toggle('hidden', !guild);
    pendingList.replaceChildren(
      ...pending.invites.map((p) => h('li', { 'data-guild': p.guild, 'data-kind': 'invite' },
        h('span', {}, 'Invited to ', h('strong', {}, `[${p.tag}] ${p.name}`)),
        h('span', { class: 'row' },
          h('button', { type: 'button', class: 'primary', 'data-action': 'accept', onclick: () => act(`joined ${p.name}`, async () => {
            guild = (await client.call('guild.accept', { guild: p.guild })).guild;
            await refresh();
          }) }, 'Join'),
          h('button', { type: 'button', 'data-action': 'decline', onclick: () => act('', async () => {
            await client.call('guild.decline', { guild: p.guild });
            await refresh();
          }) }, 'Decline')))),
      ...pending.requests.map((p) => h('li', { 'data-guild': p.guild, 'data-kind': 'request' },
        h('span', {}, 'Asked to join ', h('strong', {}, `[${p.tag}] ${p.name}`)),
        h('button', { type: 'button', 'data-action': 'withdraw', onclick: () => act('', async () => {
          await client.call('guild.withdraw', { guild: p.guild });
          await refresh();
        }) }, 'Withdraw'))));
    if (guild) {
      title.textContent = `[${guild.tag}] ${guild.name} · #${guild.id}`;
      motd.textContent = guild.motd ? `“${guild.motd}”` : 'No message of the day.';
    }
    const leading = myRole() === 'leader';
    members.replaceChildren(...roster.map((m) => h('li', {
      'data-account': m.account, 'data-online': m.online ? '1' : '0', 'data-role': m.role,
    }, h('span', {}, h('span', { class: 'dot' }), ' ', h('strong', {}, m.name || `#${m.account}`),
         h('span', { class: 'muted' }, ` · ${m.role}`)),
    m.account !== me() && (leading || (officer() && m.role === 'member')) ? h('span', { class: 'row' },
      leading ? h('button', { type: 'button', 'data-action': 'role', onclick: () => act(`${m.name} is now ${m.role === 'member' ? 'an officer' : 'a member'}`,
        () => client.call('guild.set_role', { account: m.account, role: m.role === 'member' ? 'officer' : 'member' })) },
      m.role === 'member' ? 'Officer' : 'Member') : null,
      h('button', { type: 'button', 'data-action': 'kick', onclick: () => act(`${m.name} kicked`,
        () => client.call('guild.kick', { account: m.account })) }, 'Kick')) : null)));
    requests.replaceChildren(...(officer() ? [...asking.values()] : []).map((from) => h('li', { 'data-account': from.account },
      h('span', {}, h('strong', {}, from.name), ' asks to join'),
      h('span', { class: 'row' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'approve', onclick: () => act(`${from.name} joined`, async () => {
          asking.delete(from.account);
          await client.call('guild.approve', { account: from.account });
        }) }, 'Approve'),
        h('button', { type: 'button', 'data-action': 'reject', onclick: () => act('', async () => {
          asking.delete(from.account);
          render();
          await client.call('guild.reject', { account: from.account });
        }) }, 'Reject')))));
    invite.classList.toggle('hidden', !officer());
    motdForm.classList.toggle('hidden', !officer());
    document.dispatchEvent(new CustomEvent('guild', { detail: guild }));
  };

  const loadRoster = async () => {
    roster = guild ? (await client.call('guild.members')).members : [];
  };
  const refresh = async () => {
    if (!client.account) {
      guild = null;
      roster = [];
      pending = { invites: [], requests: [] };
      asking.clear();
      return render();
    }
    await act('', async () => {
      guild = (await client.call('guild.info')).guild;
      await loadRoster();
      pending = guild ? { invites: [], requests: [] } : await client.call('guild.pending');
    });
    render();
  };

  create.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('guild founded', async () => {
      guild = (await client.call('guild.create', { name: name.value.trim(), tag: tag.value.trim() })).guild;
      name.value = '';
      tag.value = '';
      await refresh();
    });
  });
  ask.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('asked to join', async () => {
      await client.call('guild.join_request', { guild: Number(askId.value) });
      askId.value = '';
      await refresh();
    });
  });
  invite.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('invited', async () => {
      await client.call('guild.invite', { account: Number(inviteId.value) });
      inviteId.value = '';
    });
  });
  motdForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('message of the day set', async () => {
      await client.call('guild.motd', { text: motdText.value });
      motdText.value = '';
    });
  });
  leave.addEventListener('click', () => act('left the guild', async () => {
    await client.call('guild.leave');
    await refresh();
  }));
  client.on('guild.invite', ({ from }) => {
    log('info', `${from.name} invites you to a guild`);
    refresh();
  });
  client.on('guild.request', ({ from }) => {
    asking.set(from.account, from);
    log('info', `${from.name} asks to join the guild`);
    render();
  });
  client.on('guild.update', ({ guild: g, reason }) => {
    guild = g;
    if (!g && reason) log('info', `guild: ${reason}`);
    refresh();
  });
  client.on('resync', refresh);
  client.on('relogin', refresh);
  document.addEventListener('login', refresh);
  document.addEventListener('logout', refresh);
  render();
}
