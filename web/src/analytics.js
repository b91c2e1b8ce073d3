// Player analytics: the events of vodflow/analytics/events.py (schema_version 1), queued and posted in
// batches to POST /events with the access token; flushed every few seconds, when the queue is long, and
// on pagehide/hidden with fetch(..., {keepalive: true}) so the last batch survives leaving the page.

import { getToken, uuid4 } from './common.js';

export const PROGRESS_INTERVAL_S = 10;
const FLUSH_EVERY_MS = 4000;
const FLUSH_AT = 20;           // queue length that triggers an immediate flush
const MAX_BATCH = 200;         // well under the API's 1000 and the 64 KiB keepalive body budget

export class Analytics {
  /**
   * @param {object} o
   * @param {string} o.videoId
   * @param {string} o.userId
   * @param {string} o.country   ISO-2 of the viewer (from GET /me)
   * @param {() => number} o.position      current position, seconds
   * @param {() => number|null} o.duration title length, seconds
   * @param {() => string} o.rung          rung name playing now
   * @param {object} o.state               window.vodflowPlayer (counters for tests and debugging)
   */
  constructor({ videoId, userId, country, position, duration, rung, state }) {
    Object.assign(this, { videoId, userId, country, position, duration, rung, state });
    this.sessionId = uuid4();
    this.queue = [];
    this.inflight = false;
    state.sessionId = this.sessionId;
    state.eventsSent = 0;
    state.eventsQueued = 0;
    state.eventsRejected = [];
    state.eventLog = [];
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    addEventListener('pagehide', () => this.flush({ keepalive: true }));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.flush({ keepalive: true });
    });
  }

  emit(type, extra = {}) {
    const pos = Math.max(0, Number(this.position()) || 0);
    const dur = this.duration();
    const ev = {
      schema_version: 1, type, event_id: uuid4(), session_id: this.sessionId, user_id: this.userId,
      video_id: this.videoId, client_ts: new Date().toISOString(), position_s: Math.round(pos * 1000) / 1000,
      rung: this.rung() || 'unknown', device: 'web', country: this.country, ...extra,
    };
    if (dur && Number.isFinite(dur) && dur > 0) ev.duration_s = Math.round(dur * 1000) / 1000;
    this.queue.push(ev);
    this.state.eventsQueued += 1;
    this.state.eventLog.push(type);
    if (this.queue.length >= FLUSH_AT) this.flush();
    return ev;
  }

  async flush({ keepalive = false } = {}) {
    if (!this.queue.length || (this.inflight && !keepalive)) return;
    const token = getToken();
    if (!token) return;
    const batch = this.queue.splice(0, MAX_BATCH);
    this.inflight = true;
    try {
      const resp = await fetch('/events', {
        method: 'POST', keepalive,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ events: batch }),
      });
      let body = null;
      try { body = await resp.json(); } catch { /* empty */ }
      if (resp.ok || resp.status === 422) {
        this.state.eventsSent += body?.accepted ?? 0;
        if (body?.rejected?.length) {
          this.state.eventsRejected.push(...body.rejected);
          console.warn('events rejected by the API', body.rejected);
        }
      } else if (resp.status === 503 || resp.status >= 500) {
        this.queue.unshift(...batch); // Kafka unavailable: resend later with the same event_ids
      } else {
        this.state.eventsRejected.push({ status: resp.status, reason: body?.detail ?? resp.statusText, count: batch.length });
      }
    } catch (e) {
      if (!keepalive) this.queue.unshift(...batch); // network error: keep for the next flush
    } finally {
      this.inflight = false;
    }
  }
}

/**
 * Wire the playback events of a <video> element to the analytics queue.
 * Progress counts seconds actually played (not wall time): nothing while paused, seeking or stalled.
 */
export function trackPlayback(video, analytics, { requestedAt }) {
  let started = false;
  let played = 0;
  let lastTime = 0;          // last position seen while playing normally (the seek origin)
  let seekFrom = null;
  let stallAt = null;
  const state = analytics.state;

  video.addEventListener('playing', () => {
    if (!started) {
      started = true;
      state.startupMs = Math.round(performance.now() - requestedAt);
      analytics.emit('startup', { startup_ms: Math.min(state.startupMs, 600000) });
      analytics.emit('video_started');
    }
    if (stallAt !== null) {
      analytics.emit('rebuffer_end', { duration_ms: Math.round(performance.now() - stallAt) });
      stallAt = null;
    }
  });
  video.addEventListener('waiting', () => {
    // a stall after start that is not caused by a seek
    if (started && !video.seeking && stallAt === null) {
      stallAt = performance.now();
      analytics.emit('rebuffer_start');
    }
  });
  video.addEventListener('timeupdate', () => {
    const t = video.currentTime;
    if (!video.seeking && !video.paused) {
      const d = t - lastTime;
      if (d > 0 && d < 2) played += d;      // jumps are seeks, not playback
      while (played >= PROGRESS_INTERVAL_S) {
        played -= PROGRESS_INTERVAL_S;
        analytics.emit('video_progress', { played_s: PROGRESS_INTERVAL_S });
      }
    }
    if (!video.seeking) lastTime = t;
  });
  video.addEventListener('seeking', () => {
    if (seekFrom === null) seekFrom = lastTime;
  });
  video.addEventListener('seeked', () => {
    const to = video.currentTime;
    if (seekFrom !== null && started && Math.abs(to - seekFrom) > 0.001) {
      analytics.emit('video_seek', { from_position_s: round3(seekFrom), to_position_s: round3(to) });
    }
    seekFrom = null;
    lastTime = to;
  });
  video.addEventListener('pause', () => {
    if (started && !video.ended) analytics.emit('video_paused');
  });
  video.addEventListener('ended', () => {
    if (played >= 1) analytics.emit('video_progress', { played_s: round3(Math.min(played, 60)) });
    played = 0;
    analytics.emit('video_completed');
    analytics.flush();
  });
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}
