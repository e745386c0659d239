// The /play page: connects to the server that served it and mounts the
// panels. A panel is a module under panels/ exporting
// `mount(section, ctx)`; ctx = {client, log, h, params}. Later services add
// their panel to PANELS (lobby, world, ladder, wallet).
import { connect, wsUrl } from './shardd.js';
import { h, log } from './ui.js';
import * as account from './panels/account.js';
import * as zones from './panels/zones.js';
import * as notices from './panels/notices.js';
import * as chat from './panels/chat.js';
import * as friends from './panels/friends.js';
import * as party from './panels/party.js';
import * as guild from './panels/guild.js';

const PANELS = [
  { id: 'account', title: 'Account', module: account },
  { id: 'zones', title: 'Zones', module: zones },
  { id: 'chat', title: 'Chat', module: chat },
  { id: 'friends', title: 'Friends', module: friends },
  { id: 'party', title: 'Party', module: party },
  { id: 'guild', title: 'Guild', module: guild },
  { id: 'notices', title: 'Server', module: notices },
];

const $ = (id) => document.getElementById(id);

function showConnection(client) {
  const conn = $('conn');
  const state = (s) => {
    conn.dataset.state = s;
    $('conn-state').textContent = {
      connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'disconnected',
    }[s] ?? s;
  };
  state(client.state);
  client.on('state', ({ state: s }) => state(s));
  client.on('rtt', ({ ms }) => { $('conn-rtt').textContent = `RTT ${ms.toFixed(1)} ms`; });
  const hello = (d) => {
    $('conn-transport').textContent = d.transport;
    $('server-version').textContent = d.version;
    $('session-id').textContent = String(d.session);
  };
  if (client.hello) hello(client.hello);
  client.on('sys.hello', hello);
  $('drop').addEventListener('click', () => client.dropConnection());
}

async function main() {
  const params = new URLSearchParams(location.search);
  let client;
  try {
    // ?transport=http forces the HTTP fallback (server-sent events); the
    // default tries WebSocket first and falls back to HTTP by itself.
    const transport = ['ws', 'http'].includes(params.get('transport')) ? params.get('transport') : 'auto';
    client = await connect(wsUrl(), {
      transport,
      log: (level, msg) => (level === 'error' ? console.error : console.warn)(`shardd: ${msg}`),
    });
  } catch (e) {
    $('conn').dataset.state = 'closed';
    $('conn-state').textContent = `cannot connect: ${e.msg ?? e}`;
    return;
  }
  globalThis.shardd = client;  // for the console (and the browser tests)
  showConnection(client);
  const root = $('panels');
  for (const p of PANELS) {
    const section = h('section', { class: 'panel', id: `panel-${p.id}` }, h('h2', {}, p.title));
    root.append(section);
    p.module.mount(section, { client, log, h, params });
  }
}

main();
