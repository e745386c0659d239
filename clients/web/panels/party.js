// The party: create, invites received (accept, decline), members with
// online/ready/leader, ready, promote, kick, leave. Invites are sent from the
// friends panel (a `party-invite` event on document). Live through
// party.update; party.info after a resync (party.update is not replayed).
import { actions } from '../ui.js';

export function mount(section, { client, log, h }) {
  const hint = h('p', { class: 'muted', id: 'party-hint' }, 'Log in to form a party.');
  const create = h('button', { type: 'button', id: 'party-create' }, 'Create party');
  const invites = h('ul', { class: 'people', id: 'party-invites' });
  const members = h('ul', { class: 'people', id: 'party-members' });
  const ready = h('button', { type: 'button', id: 'party-ready' }, 'Ready');
  const leave = h('button', { type: 'button', id: 'party-leave' }, 'Leave party');
  const controls = h('div', { class: 'row hidden', id: 'party-controls' }, ready, leave);
  const error = h('p', { class: 'error', id: 'party-error', role: 'alert' });
  const body = h('div', { id: 'party-body', class: 'hidden' }, invites, create, members, controls, error);
  section.append(hint, body);

  let party = null;
  const pending = new Map();  // party id -> invite

  const act = actions(error, log);
  const me = () => client.account?.account_id;
  const render = () => {
    const a = !!client.account;
    hint.classList.toggle('hidden', a);
    body.classList.toggle('hidden', !a);
    create.classList.toggle('hidden', !!party);
    controls.classList.toggle('hidden', !party);
    const mine = party?.members.find((m) => m.account === me());
    ready.textContent = mine?.ready ? 'Not ready' : 'Ready';
    const leading = party?.leader === me();
    members.replaceChildren(...(party ? party.members.map((m) => h('li', {
      'data-account': m.account, 'data-online': m.online ? '1' : '0', 'data-ready': m.ready ? '1' : '0',
      'data-leader': m.leader ? '1' : '0',
    }, h('span', {}, h('span', { class: 'dot' }), ' ', h('strong', {}, m.name), m.leader ? ' ★' : '',
           h('span', { class: 'muted' }, m.ready ? ' · ready' : '')),
    leading && m.account !== me() ? h('span', { class: 'row' },
      h('button', { type: 'button', 'data-action': 'promote',
                    onclick: () => act(`${m.name} leads`, () => client.call('party.promote', { account: m.account })) }, 'Lead'),
      h('button', { type: 'button', 'data-action': 'kick',
                    onclick: () => act(`${m.name} kicked`, () => client.call('party.kick', { account: m.account })) }, 'Kick')) : null)) : []));
    invites.replaceChildren(...[...pending.values()].map((inv) => h('li', { 'data-party': inv.party },
      h('span', {}, h('strong', {}, inv.from.name), ' invites you to a party'),
      h('span', { class: 'row' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'accept', onclick: () => act('joined the party', async () => {
          pending.delete(inv.party);
          party = (await client.call('party.accept', { party: inv.party })).party;
          render();
        }) }, 'Join'),
        h('button', { type: 'button', 'data-action': 'decline', onclick: () => act('', async () => {
          pending.delete(inv.party);
          render();
          await client.call('party.decline', { party: inv.party });
        }) }, 'Decline')))));
    document.dispatchEvent(new CustomEvent('party', { detail: party }));
  };
  const refresh = async () => {
    if (!client.account) {
      party = null;
      pending.clear();
      return render();
    }
    await act('', async () => { party = (await client.call('party.info')).party; });
    render();
  };

  create.addEventListener('click', () => act('party created', async () => {
    party = (await client.call('party.create')).party;
    render();
  }));
  ready.addEventListener('click', () => act('', () => client.call('party.ready', {
    ready: !party?.members.find((m) => m.account === me())?.ready,
  })));
  leave.addEventListener('click', () => act('left the party', () => client.call('party.leave')));
  client.on('party.invite', (inv) => {
    pending.set(inv.party, inv);
    log('info', `${inv.from.name} invites you to a party`);
    render();
  });
  client.on('party.update', ({ party: p, reason }) => {
    party = p;
    if (!p && reason) log('info', `party: ${reason}`);
    render();
  });
  document.addEventListener('party-invite', (ev) => act(`invited ${ev.detail.name}`,
    () => client.call('party.invite', { account: ev.detail.account })));
  client.on('resync', refresh);
  client.on('relogin', refresh);
  document.addEventListener('login', refresh);
  document.addEventListener('logout', refresh);
  render();
}
