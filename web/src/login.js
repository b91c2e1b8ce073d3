// /login: POST /auth/login {email, password} -> access token kept in sessionStorage (gone with the tab).
import { api, setToken, showError } from './common.js';

function safeNext() {
  const next = new URLSearchParams(location.search).get('next') || '/';
  // only same-site paths: never redirect to another origin
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

const form = document.getElementById('login-form');
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const errors = document.getElementById('errors');
  errors.replaceChildren();
  errors.hidden = true;
  const data = new FormData(form);
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const answer = await api('/auth/login', {
      method: 'POST', auth: false,
      body: { email: String(data.get('email') || '').trim(), password: String(data.get('password') || '') },
    });
    setToken(answer.access_token);
    location.assign(safeNext());
  } catch (e) {
    showError(e.status === 401 || e.status === 400 || e.status === 422
      ? `Sign-in refused: ${e.detail}`
      : `Sign-in failed (${e.status ?? 'network'}): ${e.detail ?? e.message}`);
  } finally {
    button.disabled = false;
  }
});
