"""HTML of the operator pages (pure: rows from vodflow/operator/titles.py in, a string out).

The pages are shown inside the Airflow UI: an iframe of its "vodflow titles" navigation entry, sandboxed
``allow-scripts allow-same-origin allow-forms allow-downloads`` by Airflow 3.3's UI -- no top-level
navigation, no pop-ups. Links into Airflow (DAG runs) are ``target=_top`` and the player's open a
new tab, which works when a page is opened on its own; inside the frame :data:`FRAME_LINKS` routes
them itself: an Airflow link is pushed onto the UI's history (the UI is a single-page app that
follows ``popstate``; same origin, so the frame may), the player is opened by a link the script
places in the (unsandboxed) top document. Every value is escaped; relative links keep the pages
working under any mount prefix.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Optional

STATUSES = ("uploaded", "processing", "ready", "failed")
STYLE = """body{font:14px system-ui,sans-serif;margin:16px;color:#1a202c}table{border-collapse:collapse}
td,th{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
.ready{color:#2f855a}.failed{color:#c53030}.processing{color:#2b6cb0}.uploaded{color:#718096}
.reason{max-width:40em}code{font-size:12px}img{max-width:100%;border:1px solid #e2e8f0}
nav a{margin-right:12px}.msg{background:#fefcbf;padding:6px}"""


FRAME_LINKS = """(() => {
  if (window.top === window) return;
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-airflow], a[data-new]');
    if (!a) return;
    e.preventDefault();
    const top = window.top;
    try {
      if (a.hasAttribute('data-airflow')) {
        const st = top.history.state || {};
        top.history.pushState({...st, usr: null, key: Math.random().toString(36).slice(2, 10), idx: (st.idx || 0) + 1},
                              '', a.getAttribute('href'));
        top.dispatchEvent(new top.PopStateEvent('popstate', {state: top.history.state}));
      } else {
        const l = top.document.createElement('a');
        l.href = a.href; l.target = '_blank'; l.rel = 'noopener';
        top.document.body.appendChild(l); l.click(); l.remove();
      }
    } catch (err) { location.href = a.href; }
  });
})();"""


def _doc(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}<script>{FRAME_LINKS}</script></body></html>")


def _a(href: Optional[str], text: str, top: bool = False, new: bool = False) -> str:
    if not href:
        return ""
    target = " target='_top' data-airflow" if top else " target='_blank' rel='noopener' data-new" if new else ""
    return f"<a href='{escape(href)}'{target}>{escape(text)}</a>"


def _reason(row: dict[str, Any]) -> str:
    r = row.get("reason")
    if not r:
        return ""
    head = f"{r['kind']} [{r['code']}]: " if r["kind"] else ""
    return f"<span class='reason'>{escape(head)}{escape(r['text'])}</span>"


def list_page(rows: Iterable[dict[str, Any]], status: Optional[str] = None, message: str = "") -> str:
    """Every title with status, reason, ladder summary and links."""
    nav = " ".join(_a("?" if s is None else f"?status={s}", s or "all") for s in (None, *STATUSES))
    trs = []
    for r in rows:
        lad = r["ladder"]
        rungs = ", ".join(x["name"] for x in lad["rungs"]) or "-"
        trs.append(
            f"<tr data-video-id='{escape(r['id'])}'><td>{_a('titles/' + r['id'], r['title'])}<br>"
            f"<code>{escape(r['id'])}</code></td><td class='{escape(r['status'])}'>{escape(r['status'])}</td>"
            f"<td>{_reason(r)}</td><td>{escape(lad['mode'] or '-')}: {escape(rungs)}</td>"
            f"<td>{r.get('ingest_attempts') or 0}</td><td>{_a(r['links']['dag_run'], 'DAG run', top=True)} "
            f"{_a(r['links']['player'], 'player', new=True)}</td></tr>")
    body = (f"<h1>vodflow titles</h1><nav>{nav}</nav>" + (f"<p class='msg'>{escape(message)}</p>" if message else "")
            + ("<table><tr><th>title</th><th>status</th><th>reason</th><th>ladder</th><th>attempts</th>"
               "<th>links</th></tr>" + "".join(trs) + "</table>" if trs
               else f"<p>No {escape(status or '')} titles in the catalog.</p>"))
    return _doc("vodflow titles", body)


def _qoe(q: dict[str, Any]) -> str:
    if "unavailable" in q:
        return f"<p>QoE unavailable: {escape(str(q['unavailable']))}</p>"
    if not q.get("views"):
        return f"<p>No views in the last {q['days']} days.</p>"

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    def ms(v):
        return "-" if v is None else f"{v:.0f} ms"

    cells = [("views", q["views"]), ("viewers", q.get("viewers")), ("completion", pct(q.get("completion_rate"))),
             ("startup p50", ms(q.get("startup_ms_p50"))), ("startup p95", ms(q.get("startup_ms_p95"))),
             ("rebuffer ratio", pct(q.get("rebuffer_ratio"))), ("last view", q.get("last_view_at"))]
    return (f"<table id='qoe'><caption>last {q['days']} days (vodflow.sessions)</caption>"
            + "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in cells) + "</table>")


def title_page(row: dict[str, Any], qoe: dict[str, Any], message: str = "") -> str:
    """One title: reason, ladder table and rate-quality plot, QoE, links and the retry action."""
    lad, links, vid = row["ladder"], row["links"], row["id"]
    rungs = "".join(
        f"<tr><td>{escape(x['name'])}</td><td>{x['width']}x{x['height']}</td><td>{x['fps']:g}</td>"
        f"<td>{x['bandwidth'] / 1000:.0f}</td><td>{(x.get('measured_avg_bitrate') or 0) / 1000:.0f}</td>"
        f"<td><code>{escape(x['codecs'])}</code></td></tr>" for x in lad["rungs"])
    ladder = (("<table id='ladder'><tr><th>rung</th><th>size</th><th>fps</th><th>peak kbit/s</th>"
               "<th>avg kbit/s</th><th>codecs</th></tr>" + rungs + "</table>") if rungs else "<p>No rungs published.</p>")
    plot = (f"<p><img id='rate-quality' src='{escape(vid)}/rate_quality.png' alt='rate-quality plot of the ladder'>"
            "</p>" if lad["plot_key"] else "<p>No rate-quality plot (fixed ladder"
            + (f": {escape(lad['fallback_reason'])}" if lad.get("fallback_reason") else "") + ").</p>")
    retry = ("" if row["status"] == "processing" else
             f"<form method='post' action='{escape(vid)}/retry'><button type='submit'>Retry ingest</button> "
             "(starts a new video_ingest run)</form>")
    body = (f"<p>{_a('../', '← all titles')}</p><h1>{escape(row['title'])}</h1>"
            + (f"<p class='msg'>{escape(message)}</p>" if message else "")
            + f"<p><code>{escape(vid)}</code> <span class='{escape(row['status'])}'>{escape(row['status'])}</span>,"
              f" {row.get('ingest_attempts') or 0} ingest attempt(s). {_reason(row)}</p>"
            + f"<p>{_a(links['dag_run'], 'last DAG run', top=True)} {_a(links['dag'], 'video_ingest', top=True)} "
              f"{_a(links['player'], 'open in the player', new=True)}</p>"
            + f"<h2>Ladder ({escape(lad['mode'] or 'not planned')})</h2>{ladder}{plot}"
            + f"<h2>QoE</h2>{_qoe(qoe)}<h2>Actions</h2>{retry or '<p>Ingesting now: no retry.</p>'}")
    return _doc(f"{row['title']} - vodflow", body)
