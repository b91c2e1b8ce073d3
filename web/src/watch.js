// /watch/{id}: GET /videos/{id}/play -> signed edge URLs + license; play DASH+ClearKey with shaka-player,
// clear HLS with hls.js; scrub previews, recommendations, analytics events.
//
// State for tests and debugging lives on window.vodflowPlayer:
//   state      'init' | 'authorizing' | 'loading' | 'playing' | 'error'
//   engine     'shaka' | 'hls'
//   errors     [{kind: 'play'|'license'|'decryption'|'network'|'media'|'drm'|'other', code, message}]
//   rungsFetched  distinct rung directories of the media segments fetched from the edge
//   segmentsFetched, licenseRequests [{status, reason}], currentRung, rungSwitches
//   sessionId, eventsQueued, eventsSent, eventsRejected, eventLog, startupMs, storyboardCues,
//   stopped / framesAtError (after a critical error the player is unloaded; frames decoded until then)

import shaka from 'shaka-player/dist/shaka-player.dash-es2021.js';
import Hls from 'hls.js';

import { Analytics, trackPlayback } from './analytics.js';
import { api, ApiError, currentUser, deviceId, el, getToken, renderAccount, showError, userIdOf } from './common.js';
import { attachPreview, loadStoryboard } from './storyboard.js';

const AUDIO_DIR = 'audio';
const START_BPS = 1000000;   // the ABR's bandwidth estimate before it has measured anything, at most ...
const START_SHARE = 0.5;     // ... and at most this share of the link the browser reports (navigator.connection).
                             // 0.2 (a first 6 s segment in ~1.2 s) was tried: on a 30 s title that starts on the
                             // lowest rung the ABR then never climbed before the whole title was buffered
                             // (tests/web/test_player_browser.py); docs/benchmarks-playback.md

/** The start estimate: a first segment that takes about half its duration to fetch on the reported link. */
function startEstimate() {
  const mbps = navigator.connection && navigator.connection.downlink;   // Mb/s, coarse; absent in some browsers
  return mbps > 0 ? Math.min(START_BPS, mbps * 1e6 * START_SHARE) : START_BPS;
}
const STARTUP_WAIT_MS = 10000; // the page's extras wait this long at most for the first frame

const state = {
  state: 'init', engine: null, errors: [], rungsFetched: [], segmentsFetched: 0, licenseRequests: [],
  currentRung: null, rungSwitches: [], startupMs: null, storyboardCues: 0, eventsSent: 0, eventsQueued: 0,
};
window.vodflowPlayer = state;

const videoId = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const video = document.getElementById('video');

function fail(kind, message, code = null) {
  state.errors.push({ kind, code, message });
  state.state = 'error';
  showError(message);
}

/** Append the signed query of /play to a URL of the edge (the policy covers videos/{id}/*). */
function makeSigner(play) {
  const edgeOrigin = new URL(play.dash_url || play.hls_url).origin;
  const query = play.signed_query;
  return (url) => {
    const u = new URL(url, location.href);
    if (u.origin !== edgeOrigin || !query || /[?&]Signature=/.test(u.search)) return u.toString();
    return u.toString() + (u.search ? '&' : '?') + query;
  };
}

/** The rung directory of a segment URL: .../videos/{id}/{publish}/{rung}/seg_00001.m4s */
function rungOfUrl(url) {
  const parts = new URL(url, location.href).pathname.split('/');
  const file = parts[parts.length - 1];
  const dir = parts[parts.length - 2];
  if (!/\.(m4s|mp4|m4v|ts)$/.test(file) || !dir || dir === AUDIO_DIR) return null;
  return { rung: dir, media: file.startsWith('seg_') || file.endsWith('.m4s') };
}

function recordFetch(url) {
  const r = rungOfUrl(url);
  if (!r || !r.media) return;
  state.segmentsFetched += 1;
  if (!state.rungsFetched.includes(r.rung)) state.rungsFetched.push(r.rung);
}

function setRung(name, analytics) {
  if (!name || name === state.currentRung) return;
  const from = state.currentRung;
  state.currentRung = name;
  const label = document.getElementById('rung');
  if (label) label.textContent = name;
  if (from) {
    state.rungSwitches.push({ from, to: name });
    analytics?.emit('bitrate_switch', { from_rung: from, to_rung: name });
  }
}

// ------------------------------------------------------------------------------------- shaka (DASH)
function describeShakaError(err, play) {
  const E = shaka.util.Error.Code;
  const code = err.code;
  const http = (e) => (e && e.code === E.BAD_HTTP_STATUS ? { url: e.data[0], status: e.data[1], body: e.data[2], headers: e.data[3] || {} } : null);
  if (code === E.LICENSE_REQUEST_FAILED) {
    const h = http(err.data[0]);
    let reason = '';
    if (h) {
      try { reason = JSON.parse(h.body).detail || JSON.parse(h.body).reason || ''; } catch { reason = h.body || ''; }
      if (typeof reason === 'object') reason = reason.reason || JSON.stringify(reason);
      state.licenseRequests.push({ status: h.status, reason });
    }
    return { kind: 'license', message: `License refused${h ? ` (HTTP ${h.status})` : ''}: ${reason || 'the license server did not answer'}. The title cannot be decrypted.` };
  }
  if (code === E.LICENSE_RESPONSE_REJECTED || code === E.EXPIRED) {
    return { kind: 'decryption', message: `Decryption error: the license was not usable (shaka ${code}).` };
  }
  if (err.category === shaka.util.Error.Category.DRM) {
    return { kind: 'drm', message: `DRM error ${code}: ${(err.data || []).filter((d) => typeof d === 'string').join(' ') || 'ClearKey could not be set up'}.` };
  }
  if (code === E.VIDEO_ERROR) {
    const [mediaCode, , msg] = err.data || [];
    const kind = mediaCode === 3 ? 'decryption' : 'media';
    return { kind, message: `${kind === 'decryption' ? 'Decryption/decode error' : 'Media error'}: ${msg || `MediaError ${mediaCode}`}.` };
  }
  const h = http(err) || http(err.data && err.data[0]);
  if (h) {
    let deny = h.headers['x-edge-deny-reason'] || '';
    try { deny = JSON.parse(h.body).detail || deny; } catch { /* not JSON */ }
    return { kind: 'network', message: `The edge refused ${new URL(h.url).pathname} with HTTP ${h.status}${deny ? `: ${deny}` : ''}${h.status === 403 ? ' (signature missing, expired or invalid: reload the page to get a fresh one)' : ''}.` };
  }
  return { kind: 'other', message: `Player error ${code} (category ${err.category}).` };
}

/** A critical error (license refused, undecryptable media): stop fetching and release the CDM. The
 * frames decoded until then are recorded (0 when the license was refused: nothing was decrypted). */
function stop(player) {
  if (state.stopped) return;
  state.stopped = true;
  state.framesAtError = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : null;
  video.pause();
  player.unload().catch(() => {});
}

async function playWithShaka(play, meta, analytics, sign) {
  state.engine = 'shaka';
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) throw Object.assign(new Error('this browser cannot play DASH (no MSE)'), { kind: 'media' });
  const player = new shaka.Player();
  await player.attach(video);
  state.shakaVersion = shaka.Player.version;
  // Tuned by bench/playback_qoe.py (docs/benchmarks-playback.md "Browser QoE"): start on the rung that fits
  // 1 Mb/s or half the link the browser reports, the lower (shaka's own use of the Network Information
  // picked the top rung on a 20 Mb/s link, whose first segment alone took longer than the 1 s startup
  // goal; a flat 1 Mb/s start was too high on 1.5 Mb/s), and keep it until the first frame
  // plays (with ABR on, shaka switched up after the first segment and waited for the top rung's before
  // starting); then ABR climbs; 30 s buffered ahead absorb a drop.
  state.startBps = startEstimate();
  const cfg = {
    abr: { enabled: false, switchInterval: 2, useNetworkInformation: false, defaultBandwidthEstimate: state.startBps },
    streaming: { bufferingGoal: 30, retryParameters: { maxAttempts: 2, baseDelay: 500, timeout: 30000 } },
    manifest: { retryParameters: { maxAttempts: 2, baseDelay: 500 } },
  };
  if (play.drm) {
    cfg.drm = {
      servers: { 'org.w3.clearkey': play.license_url },
      retryParameters: { maxAttempts: 1, timeout: 15000 },
    };
  }
  player.configure(cfg);
  const RT = shaka.net.NetworkingEngine.RequestType;
  const net = player.getNetworkingEngine();
  net.registerRequestFilter((type, request) => {
    if (type === RT.LICENSE) {
      request.headers.Authorization = `Bearer ${play.license_token}`;
      request.headers['X-Device-Id'] = deviceId();
      return;
    }
    request.uris = request.uris.map(sign);   // manifest, segments, anything else from the edge
  });
  net.registerResponseFilter((type, response) => {
    if (type === RT.LICENSE) state.licenseRequests.push({ status: response.status ?? 200, reason: null });
    else if (type === RT.SEGMENT) recordFetch(response.uri);
  });

  const rungOfTrack = (t) => {
    if (!t) return null;
    const same = meta.renditions.filter((r) => r.height === t.height);
    const pool = same.length ? same : meta.renditions;
    if (!pool.length) return t.height ? `${t.height}p` : null;
    const bw = t.videoBandwidth || t.bandwidth || 0;
    return pool.reduce((a, b) => (Math.abs(b.bandwidth - bw) < Math.abs(a.bandwidth - bw) ? b : a)).name;
  };
  const syncRung = () => setRung(rungOfTrack(player.getVariantTracks().find((t) => t.active)), analytics);
  player.addEventListener('variantchanged', syncRung);
  player.addEventListener('adaptation', syncRung);
  video.addEventListener('playing', () => player.configure('abr.enabled', true), { once: true });
  player.addEventListener('error', (ev) => {
    const d = describeShakaError(ev.detail, play);
    fail(d.kind, d.message, ev.detail.code);
    if (ev.detail.severity === shaka.util.Error.Severity.CRITICAL) stop(player);
  });
  state.player = { getStats: () => player.getStats() };
  try {
    await player.load(sign(play.dash_url));
  } catch (err) {
    if (err instanceof shaka.util.Error) {
      if (err.code === shaka.util.Error.Code.LOAD_INTERRUPTED) return;
      const d = describeShakaError(err, play);
      // errors also raised through the 'error' event are reported once
      if (!state.errors.some((e) => e.code === err.code)) fail(d.kind, d.message, err.code);
      if (err.severity === shaka.util.Error.Severity.CRITICAL) stop(player);
      return;
    }
    throw err;
  }
  syncRung();
}

// ------------------------------------------------------------------------------------- hls.js (clear HLS)
function playWithHls(play, analytics, sign) {
  state.engine = 'hls';
  const hls = new Hls({
    xhrSetup: (xhr, url) => { xhr.open('GET', sign(url), true); },
    fetchSetup: (context, init) => new Request(sign(context.url), init),
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, data) => recordFetch(data.frag.url));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
    const level = hls.levels[data.level];
    const m = level && new URL(level.url[0] || level.uri || level.url, location.href).pathname.split('/');
    setRung(m ? m[m.length - 2] : level && `${level.height}p`, analytics);
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal) return;
    const status = data.response?.code;
    const kind = data.type === Hls.ErrorTypes.NETWORK_ERROR ? 'network'
      : data.type === Hls.ErrorTypes.KEY_SYSTEM_ERROR ? 'drm' : 'media';
    fail(kind, `Playback failed (${data.details}${status ? `, HTTP ${status}` : ''}).`, data.details);
  });
  hls.loadSource(play.hls_url);
  hls.attachMedia(video);
  state.player = { getStats: () => ({ level: hls.currentLevel, bandwidthEstimate: hls.bandwidthEstimate }) };
}

// ------------------------------------------------------------------------------------- controls
function fmt(t) {
  if (!Number.isFinite(t)) return '0:00';
  const s = Math.floor(t);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function wireControls() {
  const toggle = document.getElementById('toggle');
  const seek = document.getElementById('seek');
  const time = document.getElementById('time');
  const mute = document.getElementById('mute');
  let dragging = false;
  toggle.addEventListener('click', () => (video.paused ? video.play() : video.pause()));
  video.addEventListener('click', () => (video.paused ? video.play() : video.pause()));
  video.addEventListener('play', () => { toggle.textContent = 'Pause'; });
  video.addEventListener('pause', () => { toggle.textContent = 'Play'; });
  mute.addEventListener('click', () => { video.muted = !video.muted; mute.textContent = video.muted ? 'Unmute' : 'Mute'; });
  video.addEventListener('volumechange', () => { mute.textContent = video.muted ? 'Unmute' : 'Mute'; });
  seek.addEventListener('input', () => { dragging = true; time.textContent = `${fmt(seek.value * video.duration / 1000)} / ${fmt(video.duration)}`; });
  seek.addEventListener('change', () => { dragging = false; if (video.duration) video.currentTime = seek.value * video.duration / 1000; });
  video.addEventListener('timeupdate', () => {
    if (!dragging && video.duration) seek.value = String(Math.round(video.currentTime / video.duration * 1000));
    if (!dragging) time.textContent = `${fmt(video.currentTime)} / ${fmt(video.duration)}`;
  });
  video.addEventListener('playing', () => { state.state = state.errors.length ? 'error' : 'playing'; });
  video.addEventListener('error', () => {
    const me = video.error;
    if (!me || state.engine === 'shaka') return; // shaka reports media errors itself (VIDEO_ERROR)
    fail(me.code === 3 ? 'decryption' : 'media', `Media error ${me.code}: ${me.message || 'the video could not be decoded'}.`, me.code);
  });
}

/** Resolves on the first 'playing' (or an error, or after ``ms``). */
function firstFrame(ms) {
  return new Promise((resolve) => {
    if (state.errors.length || (video.currentTime > 0 && !video.paused)) { resolve(); return; }
    video.addEventListener('playing', resolve, { once: true });
    video.addEventListener('error', resolve, { once: true });
    setTimeout(resolve, ms);
  });
}

async function autoplay() {
  try {
    await video.play();
  } catch (e) {
    if (e.name === 'NotAllowedError') { // autoplay with sound blocked: start muted, offer unmute
      video.muted = true;
      try { await video.play(); } catch { /* the user presses Play */ }
    }
  }
}

// ------------------------------------------------------------------------------------- page
async function recommendations(me) {
  try {
    const [recs, list] = await Promise.all([
      api(`/users/${encodeURIComponent(userIdOf(me))}/recommendations?limit=12`),
      api('/web/catalog', { auth: false }),
    ]);
    const byId = new Map(list.videos.map((v) => [v.id, v]));
    const items = (recs.items || []).map((i) => byId.get(i.video_id)).filter((v) => v && v.id !== videoId);
    if (!items.length) return;
    const row = document.getElementById('recs');
    row.hidden = false;
    row.querySelector('.row').append(...items.map((v) => el('a', { class: 'card', href: `/watch/${v.id}` },
      el('div', { class: 'poster' }, v.poster_url ? el('img', { src: v.poster_url, alt: '', loading: 'lazy' }) : el('div', { class: 'noposter', text: v.title[0] })),
      el('div', { class: 'meta' }, el('span', { class: 'title', text: v.title })))));
  } catch (e) {
    console.info('recommendations unavailable:', e.detail ?? e.message);
  }
}

async function main() {
  if (!getToken()) {
    location.replace(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  const me = await currentUser();
  renderAccount(me);
  if (!me) {
    location.replace(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  wireControls();
  let meta;
  try {
    meta = await api(`/videos/${encodeURIComponent(videoId)}`, { auth: false });
  } catch (e) {
    fail('play', e.status === 404 ? 'This title does not exist.' : `The title could not be loaded: ${e.detail}`, e.status);
    return;
  }
  document.getElementById('title').textContent = meta.title;
  document.title = `${meta.title} · vodflow`;
  // the smallest poster: a placeholder until the first frame, which it must not delay -- the largest (1280 px,
  // ~100 KB) shared the link with the first segments and cost 0.1-1.8 s of startup (bench/playback_qoe.py)
  const posterKey = meta.thumbnails?.posters && Object.entries(meta.thumbnails.posters).sort((a, b) => a[0] - b[0])[0];

  state.state = 'authorizing';
  const requestedAt = performance.now();
  let play;
  try {
    play = await api(`/videos/${encodeURIComponent(videoId)}/play`, { headers: { 'X-Device-Id': deviceId() } });
  } catch (e) {
    const why = e instanceof ApiError ? e.detail : e.message;
    const msg = e.status === 403 ? `Playback not allowed: ${why}`
      : e.status === 401 ? `Your session expired: sign in again (${why})`
        : e.status === 409 ? `Not playable yet: ${why}`
          : `Playback could not start (${e.status ?? 'network'}): ${why}`;
    fail('play', msg, e.status ?? null);
    return;
  }
  state.play = { video_id: play.video_id, expires_at: play.expires_at, drm: play.drm, license_url: play.license_url };
  const sign = makeSigner(play);
  if (posterKey) video.poster = sign(new URL(`/${posterKey[1]}`, new URL(play.dash_url || play.hls_url)).toString());

  const analytics = new Analytics({
    videoId, userId: userIdOf(me), country: me.country || 'US',
    position: () => video.currentTime, duration: () => video.duration || meta.source_props?.duration || null,
    rung: () => state.currentRung, state,
  });
  trackPlayback(video, analytics, { requestedAt });

  const forced = new URLSearchParams(location.search).get('engine');
  const useHls = !play.drm && play.hls_url && Hls.isSupported() && forced !== 'shaka';
  state.state = 'loading';
  try {
    if (useHls && forced !== 'shaka') playWithHls(play, analytics, sign);
    else if (play.dash_url) await playWithShaka(play, meta, analytics, sign);
    else fail('media', 'This title has no DASH manifest and HLS is not playable here.');
  } catch (e) {
    fail(e.kind || 'other', `The player could not start: ${e.message}`);
    return;
  }
  if (!state.errors.length) autoplay();
  // scrub previews and recommendations after the first frame: on a slow link they would share it with
  // the first segments (bench/playback_qoe.py)
  await firstFrame(STARTUP_WAIT_MS);

  const vtt = meta.thumbnails?.storyboard_vtt;
  if (vtt) {
    try {
      const vttUrl = new URL(`/${vtt}`, new URL(play.dash_url || play.hls_url)).toString();
      const cues = await loadStoryboard(vttUrl, sign);
      state.storyboardCues = cues.length;
      attachPreview(document.getElementById('seek'), document.getElementById('preview'), cues, () => video.duration);
    } catch (e) {
      console.info('no scrub previews:', e.message);
    }
  }
  recommendations(me);
}

main();
