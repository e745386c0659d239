// What the server says: announcements, shutdown, kicks; and the connection's
// story (drops, resumes).
import { onLog } from '../ui.js';

export function mount(section, { client, log, h }) {
  const list = h('ul', { class: 'log', id: 'server-log', 'aria-live': 'polite' });
  const resume = h('p', { class: 'muted', id: 'resume-state' }, 'no resume yet');
  section.append(resume, list);
  onLog((kind, text) => {
    const time = new Date().toLocaleTimeString();
    list.prepend(h('li', { 'data-kind': kind }, h('span', { class: 'muted' }, time), ' ', text));
    while (list.children.length > 100) list.lastChild.remove();
  });
  client.on('sys.notice', (d) => log('info', `notice${d.from ? ` from ${d.from}` : ''}: ${d.text}`));
  client.on('shutdown', (d) => log('warn', `server shutting down (${d.reason}); reconnecting in ${Math.round(d.reconnect_after_ms / 1000)} s`));
  client.on('kicked', (d) => log('bad', `kicked: ${d.reason}${d.msg ? ` (${d.msg})` : ''}`));
  client.on('sys.close', (d) => log('warn', `connection closed by the server: ${d.code} ${d.msg}`));
  client.on('state', ({ state }) => {
    if (state === 'reconnecting') log('warn', 'connection lost; reconnecting');
    if (state === 'closed') log('bad', 'disconnected');
  });
  client.on('resumed', ({ resync, replayed }) => {
    const text = resync ? 'session resumed; some pushes were lost, state re-fetched'
      : `session resumed, ${replayed} missed push${replayed === 1 ? '' : 'es'} replayed`;
    resume.textContent = `${text} (${client.reconnects} reconnect${client.reconnects === 1 ? '' : 's'})`;
    resume.dataset.resumed = String(client.reconnects);
    log('ok', text);
  });
  client.on('loggedout', ({ code, msg }) => log('warn', `logged out: ${code} ${msg}`));
}
