// Scrub previews: the storyboard WebVTT published by ingest (vodflow/media/thumbnails.py) has one cue per
// tile, "sheet.jpg#xywh=x,y,w,h"; the sprite sheets sit next to it. Both are fetched through the edge with
// the signed query of /play appended.

function seconds(ts) {
  const parts = ts.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Parse the storyboard VTT into [{start, end, url, x, y, w, h}]; `sign` turns a URL into a signed one. */
export function parseStoryboard(text, vttUrl, sign) {
  const cues = [];
  const lines = text.replace(/\r/g, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^\s*([\d:.]+)\s+-->\s+([\d:.]+)/);
    if (!m) continue;
    const target = (lines[i + 1] || '').trim();
    const hash = target.indexOf('#xywh=');
    if (hash < 0) continue;
    const [x, y, w, h] = target.slice(hash + 6).split(',').map(Number);
    const base = new URL(target.slice(0, hash), vttUrl);
    base.search = '';
    cues.push({ start: seconds(m[1]), end: seconds(m[2]), url: sign(base.toString()), x, y, w, h });
  }
  return cues;
}

export async function loadStoryboard(vttUrl, sign) {
  const resp = await fetch(sign(vttUrl));
  if (!resp.ok) throw new Error(`storyboard ${resp.status}`);
  return parseStoryboard(await resp.text(), vttUrl, sign);
}

export function cueAt(cues, t) {
  let lo = 0;
  let hi = cues.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t < cues[mid].start) hi = mid - 1;
    else if (t >= cues[mid].end) lo = mid + 1;
    else return cues[mid];
  }
  return cues.length ? cues[Math.max(0, Math.min(cues.length - 1, lo))] : null;
}

/** Show the tile under the pointer above the seek bar. */
export function attachPreview(seek, preview, cues, duration) {
  const show = (ev) => {
    const d = duration();
    if (!d || !cues.length) return;
    const rect = seek.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    const cue = cueAt(cues, frac * d);
    if (!cue) return;
    preview.hidden = false;
    preview.style.width = `${cue.w}px`;
    preview.style.height = `${cue.h}px`;
    preview.style.backgroundImage = `url("${cue.url}")`;
    preview.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    preview.style.left = `${Math.min(rect.width - cue.w, Math.max(0, frac * rect.width - cue.w / 2))}px`;
    preview.dataset.time = (frac * d).toFixed(1);
  };
  seek.addEventListener('pointermove', show);
  seek.addEventListener('pointerleave', () => { preview.hidden = true; });
}
