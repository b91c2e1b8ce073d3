"""The rate-quality PNG of a title: trial curves per size (interpolated as the ladder reads them), their hull, the
chosen rungs.

Drawn with matplotlib's Agg backend (no display). Used by the ingest pipeline (one PNG per title,
published next to the analysis JSON) and by bench/per_title.py (one per clip, with the measured
fixed and per-title ladders on top).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vodflow.media.per_title import Pick, TrialPoint, curves_by_size, hull_points, vmaf_at


def plot_rate_quality(points: Iterable[TrialPoint], picks: Sequence[Pick], out: str | Path, *, title: str = "",
                      measured: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Path:
    """Write the PNG to ``out``; ``measured`` adds labelled (kbps, VMAF) series (e.g. encoded ladders)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = list(points)
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    for (w, h), curve in curves_by_size(pts).items():
        # each size's curve as the ladder reads it (per_title.vmaf_at: PCHIP in log rate), through its trials
        rates = [curve[0].kbps * (curve[-1].kbps / curve[0].kbps) ** (i / 40) for i in range(41)] if len(curve) > 1 else [curve[0].kbps]
        line, = ax.plot(rates, [vmaf_at(curve, r) for r in rates], "-", lw=1, alpha=0.7, label=f"trials {w}x{h}")
        ax.plot([p.kbps for p in curve], [p.vmaf for p in curve], "o", ms=3, alpha=0.7, color=line.get_color())
    hull = hull_points(pts)
    ax.plot([p.kbps for p in hull], [p.vmaf for p in hull], "k--", lw=1, label="hull (trials)")
    if picks:
        ax.plot([p.kbps for p in picks], [p.vmaf for p in picks], "r*", ms=11, label="chosen rungs (predicted)")
    for (label, series), style in zip((measured or {}).items(), ("s-", "D-", "^-", "v-")):
        if series:
            ax.plot([r for r, _ in series], [v for _, v in series], style, lw=1.5, ms=5, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("video bitrate (kb/s, log)")
    ax.set_ylabel("VMAF v0.6.1 vs source")
    ax.set_ylim(bottom=max(0, min([p.vmaf for p in pts] + [100]) - 5), top=100)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "rate-quality", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


__all__ = ["plot_rate_quality"]
