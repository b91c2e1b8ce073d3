// Shared by every page: the access token (sessionStorage), the device id (localStorage), API calls.

const TOKEN_KEY = 'vodflow.accessToken';
const DEVICE_KEY = 'vodflow.deviceId';

export function uuid4() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A random id for this browser, kept across sessions: the license token is bound to it. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = uuid4();
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Claims of the access token, read without verification (display only; the API verifies). */
export function tokenClaims(token = getToken()) {
  if (!token) return null;
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** Text of an error answer: FastAPI's {"detail": ...} (string or list), or the raw text. */
export function detailOf(body, fallback) {
  if (!body) return fallback;
  if (typeof body === 'string') return body || fallback;
  const d = body.detail ?? body.reason ?? body.error;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((x) => x.msg || JSON.stringify(x)).join('; ');
  if (d && typeof d === 'object') return d.reason || d.message || JSON.stringify(d);
  return fallback;
}

/** fetch JSON from the API with the access token; throws ApiError with the server's reason. */
export async function api(path, { method = 'GET', body, headers = {}, auth = true, keepalive = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const token = getToken();
  if (auth && token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const resp = await fetch(path, { method, headers: h, body: payload, keepalive });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, detailOf(data, `${method} ${path} answered ${resp.status}`), data);
  }
  return data;
}

/** The signed-in user (GET /me), or null when signed out or the token expired. */
export async function currentUser() {
  if (!getToken()) return null;
  try {
    return await api('/me');
  } catch (e) {
    if (e.status === 401) setToken(null);
    return null;
  }
}

export function userIdOf(me) {
  return me && String(me.id ?? me.user_id ?? me.sub ?? '');
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** The header's account area: "Sign in" or the user's email and "Sign out". */
export function renderAccount(me) {
  const box = document.getElementById('account');
  if (!box) return;
  box.replaceChildren();
  if (me) {
    box.append(el('span', { class: 'who', text: `${me.email ?? userIdOf(me)} · ${me.plan ?? ''} ${me.country ?? ''}` }),
      el('button', { type: 'button', class: 'link', text: 'Sign out', onclick: () => { setToken(null); location.reload(); } }));
  } else {
    const next = encodeURIComponent(location.pathname + location.search);
    box.append(el('a', { href: `/login?next=${next}`, text: 'Sign in' }));
  }
}

export function showError(message, where = 'errors') {
  const box = document.getElementById(where);
  if (!box) return;
  box.hidden = false;
  box.append(el('p', { class: 'error', role: 'alert', text: message }));
}
