"""Reports from the analytics tables: the drop-off (retention) chart of one title.

``vodflow report dropoff VIDEO`` (an id, or a name from ``vodflow.titles``) sums the title's
``title_daily`` rows over the chosen days, and heads the chart with the title's name:
``dropoff[k]`` counts the views (sessions) that ended in the k-th 5 % of the title without completing,
so the share still watching at position ``5 * (k + 1) %`` is ``1 - sum(dropoff[0..k]) / views``.
Views whose position could not be placed in a bucket (no known title length) are counted in the
denominator and reported on the chart. matplotlib runs on the Agg backend (no display needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from vodflow.analytics.query import NOT_WRITTEN_HINT, AnalyticsError, open_table, run_sql
from vodflow.analytics.tables import DROPOFF_BUCKETS, TABLES
from vodflow.settings import Settings, get_settings

BUCKET_PCT = 100 // DROPOFF_BUCKETS


@dataclass
class Dropoff:
    video_id: str
    first_date: date
    last_date: date
    days: int                      # days with a row
    views: int
    completions: int
    watch_time_s: float
    dropoff: list[int] = field(default_factory=list)  # DROPOFF_BUCKETS counts
    title: str | None = None       # the name in vodflow.titles (None when the dimension has no row)

    @property
    def heading(self) -> str:
        """The chart's heading: the title's name, the id when the titles dimension does not name it."""
        return f"Drop-off: {self.title or self.video_id}"

    @property
    def completion_rate(self) -> float:
        return self.completions / self.views if self.views else 0.0

    @property
    def positions(self) -> list[int]:
        """x of the curve: 0, 5, ..., 100 (% of the title)."""
        return [k * BUCKET_PCT for k in range(DROPOFF_BUCKETS + 1)]

    @property
    def retention(self) -> list[float]:
        """Share of views still watching at each of :attr:`positions` (1.0 at 0 %)."""
        out, left = [1.0], 0
        for n in self.dropoff:
            left += n
            out.append(1 - left / self.views)
        return out

    @property
    def unbucketed(self) -> int:
        """Views that neither completed nor ended in a bucket (e.g. the player did not know the length)."""
        return max(0, self.views - self.completions - sum(self.dropoff))


def title_names(video: str, s: Settings) -> dict[str, str]:
    """``{video_id: title}`` of the titles whose id is ``video`` or whose name is ``video`` (any case),
    from ``vodflow.titles``; empty when the dimension does not exist yet or names nothing."""
    if open_table(TABLES["titles"], s) is None:
        return {}
    rows = run_sql("SELECT video_id, title FROM titles WHERE video_id = $v OR lower(title) = lower($v) "
                   "ORDER BY video_id = $v DESC, ready_at DESC NULLS LAST", s, params={"v": video}).to_pylist()
    return {r["video_id"]: r["title"] for r in rows}


def resolve_video(video: str, s: Settings) -> tuple[str, str | None]:
    """``(video_id, title)`` of ``video``, a catalog id or a title's name (vodflow.titles)."""
    names = title_names(video, s)
    if video in names or not names:
        return video, names.get(video)
    if len(names) > 1:
        listed = ", ".join(f"{i} ({n})" for i, n in names.items())
        raise AnalyticsError(f"{len(names)} titles are named {video!r}: {listed}; give the video id instead")
    return next(iter(names.items()))


def dropoff_data(video: str, s: Settings | None = None, days: int = 0, today: date | None = None) -> Dropoff:
    """Sum ``title_daily`` for ``video`` (an id, or a title's name known to vodflow.titles) over the last
    ``days`` days (UTC, today included; 0 = all)."""
    s = s or get_settings()
    if open_table(TABLES["title_daily"], s) is None:
        raise AnalyticsError(f"no drop-off data: table title_daily has not been written yet under {s.lake_uri}; "
                             f"{NOT_WRITTEN_HINT}")
    video_id, title = resolve_video(video, s)
    rows = run_sql("SELECT date, views, completions, watch_time_s, dropoff FROM title_daily "
                   "WHERE video_id = $video_id ORDER BY date", s, params={"video_id": video_id}).to_pylist()
    if not rows:
        titles = run_sql("SELECT count(DISTINCT video_id) AS n FROM title_daily", s).column(0)[0].as_py()
        raise AnalyticsError(f"unknown video {video_id}: title_daily has no row for it ({titles} titles have rows; "
                             "list them with `vodflow sql \"SELECT video_id, t.title, sum(views) AS views FROM "
                             "title_daily LEFT JOIN titles t USING (video_id) GROUP BY ALL ORDER BY views DESC\"`)")
    if days > 0:
        today = today or datetime.now(timezone.utc).date()
        since = today - timedelta(days=days - 1)
        latest = rows[-1]["date"]
        rows = [r for r in rows if r["date"] >= since]
        if not rows:
            raise AnalyticsError(f"video {video_id} has no views in the last {days} days (since {since}); "
                                 f"its latest day is {latest}: use a larger --days, or --days 0 for all days")
    views = sum(r["views"] or 0 for r in rows)
    if views <= 0:
        raise AnalyticsError(f"video {video_id} has rows in title_daily but no views in the period: nothing to chart")
    buckets = [0] * DROPOFF_BUCKETS
    for r in rows:
        for k, n in enumerate((r["dropoff"] or [])[:DROPOFF_BUCKETS]):
            buckets[k] += n or 0
    return Dropoff(video_id, rows[0]["date"], rows[-1]["date"], len(rows), views,
                   sum(r["completions"] or 0 for r in rows), float(sum(r["watch_time_s"] or 0 for r in rows)),
                   buckets, title)


def dropoff_chart(d: Dropoff, out: Path) -> Path:
    """Write the retention curve of ``d`` as a PNG (1000 x 560 px) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x, y = d.positions, [100 * v for v in d.retention]
    left = [100 * n / d.views for n in d.dropoff]
    ax.bar([k * BUCKET_PCT + BUCKET_PCT / 2 for k in range(DROPOFF_BUCKETS)], left, width=BUCKET_PCT * 0.85,
           color="#f4a261", alpha=0.55, label="left in this 5 % (share of views)")
    ax.plot(x, y, color="#1d3557", marker="o", markersize=3.5, linewidth=2, label="still watching")
    rate = 100 * d.completion_rate
    ax.axhline(rate, color="#2a9d8f", linestyle="--", linewidth=1.2)
    ax.plot([100], [rate], marker="*", markersize=13, color="#2a9d8f", linestyle="none", clip_on=False,
            zorder=5, label=f"completion rate {rate:.1f} %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 105)
    ax.set_xticks(range(0, 101, 10))
    ax.set_xlabel("position in the title (%)")
    ax.set_ylabel("share of views (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=9)
    period = f"{d.first_date}" if d.first_date == d.last_date else f"{d.first_date} to {d.last_date}"
    fig.suptitle(d.heading, fontsize=13, fontweight="bold")
    sub = (f"{d.video_id}: " if d.title else "") + (f"{d.views:,} views, {d.completions:,} completed ({rate:.1f} %), "
           f"{d.watch_time_s / 3600:,.1f} h watched; {period} ({d.days} day{'s' if d.days != 1 else ''} with views)")
    if d.unbucketed:
        sub += f"; {d.unbucketed:,} view{'s' if d.unbucketed != 1 else ''} ended at an unknown position"
    ax.set_title(sub, fontsize=9, color="#444444")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
