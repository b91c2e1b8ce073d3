"""A published title with its ladder and rate-quality plot on the shared stack, for the operator page's
stack tests (tests/operator/, tests/web/test_operator_browser.py).

The demo's title (``Demo: bigbuckbunny``, what `make demo` uploads) when it is published with a
per-title ladder; otherwise the demo's clip is taken through the ingest steps of the video_ingest
DAG (accept, inspect, transcode, go_live: the per-title ladder and its plot included) under that name.
"""

from __future__ import annotations

import uuid

DEMO_TITLE_OF = "Demo: {stem}"   # vodflow/demo.py names its uploads so


def demo_title_name() -> str:
    from vodflow.demo import demo_clips

    return DEMO_TITLE_OF.format(stem=demo_clips()[0].stem)


def _with_plot(recs):
    return [r for r in recs if ((r.source_props or {}).get("ladder") or {}).get("plot_key")]


def published_title(stack, *, demo_only: bool = True):
    """The catalog row (VideoRecord) of a ready title with a rate-quality plot (see the module docstring);
    ``demo_only=False`` also takes any other such title already on the stack (no encode)."""
    from vodflow import catalog
    from vodflow.clients import s3_client
    from vodflow.demo import demo_clips
    from vodflow.ingest import pipeline

    name = demo_title_name()
    ready = _with_plot(catalog.list_videos("ready", limit=1000))
    found = [r for r in ready if r.title == name] or ([] if demo_only else ready)
    if found:
        return found[0]
    s = stack
    vid, src = str(uuid.uuid4()), demo_clips()[0]
    key = f"masters/{vid}/original{src.suffix}"
    s3_client(s).upload_file(str(src), s.bucket_masters, key)
    catalog.create_video(name, key, video_id=vid)
    quiet = lambda m: None  # noqa: E731
    req = pipeline.accept(f"operator-test__{vid}", video_id=vid, s=s, log=quiet)
    plan = pipeline.inspect(req, s=s, log=quiet)
    pipeline.go_live(req, pipeline.transcode(req, plan, s=s, log=quiet), s=s, log=quiet)
    rec = catalog.get_video(vid)
    assert rec.status.value == "ready" and _with_plot([rec]), rec
    return rec
