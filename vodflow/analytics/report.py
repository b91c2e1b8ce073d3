"""Reports from the analytics tables: the drop-off (retention) chart of one title.

``vodflow report dropoff VIDEO_ID`` sums the title's ``title_daily`` rows over the chosen days:
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


def dropoff_data(video_id: str, s: Settings | None = None, days: int = 0, today: date | None = None) -> Dropoff:
    """Sum ``title_daily`` for ``video_id`` over the last ``days`` days (UTC, today included; 0 = all)."""
    s = s or get_settings()
    if open_table(TABLES["title_daily"], s) is None:
        raise AnalyticsError(f"no drop-off data: table title_daily has not been written yet under {s.lake_uri}; "
                             f"{NOT_WRITTEN_HINT}")
    rows = run_sql("SELECT date, views, completions, watch_time_s, dropoff FROM title_daily "
                   "WHERE video_id = $video_id ORDER BY date", s, params={"video_id": video_id}).to_pylist()
    if not rows:
        titles = run_sql("SELECT count(DISTINCT video_id) AS n FROM title_daily", s).column(0)[0].as_py()
        raise AnalyticsError(f"unknown video {video_id}: title_daily has no row for it ({titles} titles have rows; "
                             "list them with `vodflow sql \"SELECT video_id, sum(views) AS views FROM title_daily "
                             "GROUP BY 1 ORDER BY 2 DESC\"`)")
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
                   buckets)


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
    fig.suptitle(f"Drop-off: {d.video_id}", fontsize=13, fontweight="bold")
    sub = (f"{d.views:,} views, {d.completions:,} completed ({rate:.1f} %), "
           f"{d.watch_time_s / 3600:,.1f} h watched; {period} ({d.days} day{'s' if d.days != 1 else ''} with views)")
    if d.unbucketed:
        sub += f"; {d.unbucketed:,} view{'s' if d.unbucketed != 1 else ''} ended at an unknown position"
    ax.set_title(sub, fontsize=9, color="#444444")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
