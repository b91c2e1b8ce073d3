"""A published title with its ladder and rate-quality plot on the shared stack, for the operator page's
stack tests (tests/operator/, tests/web/test_operator_browser.py).

The demo's title (``Demo: bigbuckbunny``, what `make demo` uploads) when it is published with a
per-title ladder; otherwise the demo's clip is taken through the ingest steps of the video_ingest
DAG (accept, inspect, transcode, go_live: the per-title ladder and its plot included) under that name.
"""

from __future__ import annotations

DEMO_TITLE_OF = "Demo: {stem}"   # vodflow/demo.py names its uploads so


def demo_title_name() -> str:
    from vodflow.demo import demo_clips

    return DEMO_TITLE_OF.format(stem=demo_clips()[0].stem)


def _with_plot(recs):
    return [r for r in recs if ((r.source_props or {}).get("ladder") or {}).get("plot_key")]


def published_title(stack, *, demo_only: bool = True):
    """The catalog row (VideoRecord) of a ready title with a rate-quality plot (see the module docstring);
    ``demo_only=False`` also takes any other such title already on the stack (no encode)."""
    from ingestkit import ingest_clip

    from vodflow import catalog
    from vodflow.demo import demo_clips

    name = demo_title_name()
    ready = _with_plot(catalog.list_videos("ready", limit=1000))
    found = [r for r in ready if r.title == name] or ([] if demo_only else ready)
    if found:
        return found[0]
    rec = catalog.get_video(ingest_clip(stack, demo_clips()[0], name, "operator-test")["id"])
    assert _with_plot([rec]), rec.source_props
    return rec
