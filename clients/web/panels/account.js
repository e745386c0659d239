// Register, log in (password or the saved token), log out.
import { errorText } from '../ui.js';

const TOKEN_KEY = 'shardd.token';

export function mount(section, { client, log, h }) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true,
                            minlength: 3, maxlength: 24, pattern: '[A-Za-z0-9_]+' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', required: true,
                            autocomplete: 'current-password', minlength: 8, maxlength: 128 });
  const error = h('p', { class: 'error', id: 'account-error', role: 'alert' });
  const who = h('p', { id: 'account-who' });
  const loginBtn = h('button', { id: 'login', class: 'primary', type: 'submit' }, 'Log in');
  const registerBtn = h('button', { id: 'register', type: 'button' }, 'Register');
  const form = h('form', { id: 'login-form' },
    h('label', {}, 'Username', user), h('label', {}, 'Password', pass),
    h('div', { class: 'row' }, loginBtn, registerBtn), error);
  const logoutBtn = h('button', { id: 'logout', type: 'button' }, 'Log out');
  const signedIn = h('div', { id: 'signed-in', class: 'hidden' }, who, logoutBtn);
  section.append(form, signedIn);

  const render = () => {
    const a = client.account;
    form.classList.toggle('hidden', !!a);
    signedIn.classList.toggle('hidden', !a);
    if (a) who.textContent = `Logged in as ${a.display_name || a.username} (#${a.account_id})`;
  };
  const busy = (b) => { loginBtn.disabled = b; registerBtn.disabled = b; };
  const loggedIn = (r, how) => {
    localStorage.setItem(TOKEN_KEY, r.token);
    log('ok', `logged in as ${r.username} (${how})`);
    render();
    section.dispatchEvent(new CustomEvent('login', { bubbles: true, detail: r }));
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(true);
    try {
      loggedIn(await client.login(user.value, pass.value), 'password');
      pass.value = '';
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      busy(false);
    }
  });
  registerBtn.addEventListener('click', async () => {
    error.textContent = '';
    if (!form.reportValidity()) return;
    busy(true);
    try {
      await client.register(user.value, pass.value);
      log('ok', `registered ${user.value}`);
      loggedIn(await client.login(user.value, pass.value), 'new account');
      pass.value = '';
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      busy(false);
    }
  });
  logoutBtn.addEventListener('click', async () => {
    try {
      await client.logout();
      localStorage.removeItem(TOKEN_KEY);
      log('info', 'logged out');
    } catch (e) {
      log('bad', `logout: ${errorText(e)}`);
    }
    render();
    section.dispatchEvent(new CustomEvent('logout', { bubbles: true }));
  });
  client.on('loggedout', ({ code }) => {
    if (code === 'KICKED' || code === 'BANNED') localStorage.removeItem(TOKEN_KEY);
    render();
    section.dispatchEvent(new CustomEvent('logout', { bubbles: true }));
  });
  client.on('relogin', (r) => loggedIn(r, 'token, after the session expired'));

  // A token from an earlier visit logs in without the password.
  const saved = localStorage.getItem(TOKEN_KEY);
  if (saved) {
    client.loginWithToken(saved).then((r) => loggedIn(r, 'saved token')).catch(() => {
      localStorage.removeItem(TOKEN_KEY);
    });
  }
  render();
}
