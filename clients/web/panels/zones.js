// The zone list with population and status; selecting a zone. Live through
// zone.update pushes; re-fetched after a resync.
import { errorText } from '../ui.js';

export function mount(section, { client, log, h }) {
  const list = h('ul', { class: 'zones', id: 'zone-list' });
  const hint = h('p', { class: 'muted', id: 'zones-hint' }, 'Log in to see the zones.');
  const error = h('p', { class: 'error', id: 'zone-error', role: 'alert' });
  section.append(hint, list, error);
  let zones = new Map();

  const render = () => {
    list.replaceChildren(...[...zones.values()].map((z) => {
      const current = client.zone === z.id;
      const button = h('button', {
        type: 'button', 'data-zone': z.id,
        disabled: current || z.status !== 'open',
        onclick: () => select(z.id),
      }, current ? 'Here' : 'Enter');
      return h('li', { class: current ? 'current' : '', 'data-zone': z.id },
        h('span', {}, h('strong', {}, z.name), ' ', h('span', { class: 'muted' }, z.map)),
        h('span', { class: 'muted', 'data-population': z.id }, `${z.population}/${z.capacity}`),
        h('span', { class: 'band', 'data-band': z.band }, z.status === 'open' ? z.band : z.status),
        button);
    }));
    hint.classList.toggle('hidden', !!client.account);
  };
  const refresh = async () => {
    if (!client.account) {
      zones = new Map();
      return render();
    }
    try {
      const r = await client.call('zone.list');
      zones = new Map(r.zones.map((z) => [z.id, z]));
    } catch (e) {
      error.textContent = errorText(e);
    }
    render();
  };
  const select = async (id) => {
    error.textContent = '';
    try {
      const r = await client.selectZone(id);
      log('ok', `entered ${id} (population ${r.population})`);
      section.dispatchEvent(new CustomEvent('zone', { bubbles: true, detail: id }));
      await refresh();
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  client.on('zone.update', ({ zone }) => {
    zones.set(zone.id, zone);
    render();
  });
  client.on('resync', refresh);
  client.on('relogin', refresh);
  document.addEventListener('login', refresh);
  document.addEventListener('logout', refresh);
  render();
}
