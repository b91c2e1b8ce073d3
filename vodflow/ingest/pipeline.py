"""The steps of the ``video_ingest`` DAG, as plain functions (the DAG file only wires them).

Every step is idempotent for a given (video, run):

* ``accept``      resolve the request (video id or S3 key), move the title to ``processing``
* ``inspect``     download the master, probe and validate it (decoding samples), plan the ladder
                  (``VODFLOW_LADDER``: per-title trial encodes + VMAF, or the fixed table)
* ``transcode``   encode the ladder, package HLS + DASH (CMAF, CENC-encrypted with the title's
                  ClearKey content key unless ``VODFLOW_DRM=off``), make posters and the storyboard,
                  upload under ``videos/{video_id}/{publish_id}/`` with the master playlist last
* ``go_live``     point the catalog at that publish set (``ready``) and delete older sets

A title is only visible through the catalog, which points at a complete publish set, so a
rerun leaves exactly one consistent set and a failed run removes what it wrote
(:func:`fail`). ``publish_id`` is derived from the Airflow run id, so a task retry rewrites
the same keys.

Content keys (:mod:`vodflow.drm.keystore`) are made once per title and reused by every rerun, so
a re-published set decrypts with the same key. A failed run leaves the title's key row in
``content_keys``: harmless (encrypted at rest, licensed only against a license token for that
title), reused by
the next attempt, and deleted with the title (ON DELETE CASCADE).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from vodflow.clients import s3_client
from vodflow.drm import packaging_key
from vodflow.ingest.publish import publish_dir, publish_id_for, title_prefix, unpublish
from vodflow.settings import Settings, get_settings

Log = Callable[[str], None]


class IngestRejected(RuntimeError):
    """The master cannot be ingested (bad input): the run fails without retries.

    ``reason`` is the plain sentence for the uploader, ``code`` a stable slug, ``details`` what the tools
    said (task log only).
    """

    def __init__(self, reason: str, code: str = "invalid", details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.details = details


class StageFailed(RuntimeError):
    """A stage inside a step (encode, package, posters, storyboard, publish) failed on a valid master.

    That is vodflow's fault, not the uploader's: the catalog gets :func:`internal_failure_reason`, the
    task log gets the original exception (chained as ``__cause__``) with its command and stderr.
    """

    def __init__(self, stage: str, exc: BaseException) -> None:
        super().__init__(f"{stage}: {type(exc).__name__}: {exc}")
        self.stage = stage


#: What the uploader reads for a failure inside each stage (a step name when no stage was entered).
STAGE_WORDS = {
    "accept": "accepting the upload", "inspect": "checking the master", "transcode": "encoding the video",
    "encode": "encoding the renditions", "package": "packaging HLS and DASH", "posters": "making the posters",
    "storyboard": "making the scrub-preview storyboard", "publish": "publishing the files",
    "go_live": "publishing the title",
}


def failure_text(kind: str, code: str, reason: str) -> str:
    """The catalog's ``error`` column: ``"<rejected|failed> [<code>]: <one plain sentence>"``."""
    return f"{kind} [{code}]: {reason}"


def internal_failure_reason(step: str, exc: BaseException) -> str:
    """The plain catalog reason for a crash inside the pipeline: no path, no exception text."""
    stage = exc.stage if isinstance(exc, StageFailed) else step
    words = STAGE_WORDS.get(stage, "processing the video")
    return failure_text("failed", f"{stage}_failed",
                        f"Processing stopped inside vodflow while {words}; this is a fault on our side, not in "
                        "your file: the operators have the details, so try the upload again later.")


class _Stage:
    """``with _Stage("storyboard"):`` turns any exception into :class:`StageFailed` naming the stage."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, et, ev, tb) -> bool:
        if ev is not None and isinstance(ev, Exception) and not isinstance(ev, (StageFailed, IngestRejected)):
            raise StageFailed(self.name, ev) from ev
        return False


# ----------------------------------------------------------------------------- helpers
def work_dir(video_id: str, publish_id: str, s: Settings) -> Path:
    d = s.home / "work" / video_id / publish_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def rung_to_dict(rung) -> dict[str, Any]:
    d = asdict(rung)
    d["fps"] = f"{rung.fps.numerator}/{rung.fps.denominator}"
    return d


def rung_from_dict(d: dict[str, Any]):
    from vodflow.media import Rung

    return Rung(**{**d, "fps": Fraction(d["fps"])})


def _master_key_from_request(video_id: str | None, s3_key: str | None) -> tuple[str | None, str | None]:
    if s3_key and not video_id:
        parts = s3_key.split("/")
        if len(parts) >= 3 and parts[0] == "masters":
            video_id = parts[1]
    return video_id, s3_key


# ----------------------------------------------------------------------------- steps
def accept(run_id: str, video_id: str | None = None, s3_key: str | None = None, title: str | None = None,
           s: Settings | None = None, log: Log = print) -> dict[str, Any]:
    """Resolve the request and mark the title ``processing``. Returns the request dict for later steps."""
    from vodflow import catalog

    s = s or get_settings()
    video_id, s3_key = _master_key_from_request(video_id, s3_key)
    if not video_id and not s3_key:
        raise IngestRejected("the run has no video: give `video_id` or `s3_key` (masters/<id>/original.<ext>)",
                             "no_video")
    if video_id:
        try:
            rec = catalog.get_video(video_id)
            s3_key = s3_key or rec.source_key
        except catalog.VideoNotFound:
            if not s3_key:
                raise IngestRejected(f"video {video_id} is not in the catalog and no s3_key was given",
                                     "unknown_video") from None
            rec = None
    else:
        rec = None
    if rec is None:
        # An operator ingesting a master that was put into the bucket directly: register it.
        try:
            s3_client(s).head_object(Bucket=s.bucket_masters, Key=s3_key)
        except Exception as e:  # noqa: BLE001
            raise IngestRejected(f"master s3://{s.bucket_masters}/{s3_key} not found ({e})", "master_missing") from e
        rec = catalog.create_video(title or Path(s3_key).stem, s3_key, video_id=video_id)
        video_id = rec.id
    catalog.start_processing(video_id, run_id)
    req = {"video_id": video_id, "source_key": s3_key, "publish_id": publish_id_for(run_id), "run_id": run_id}
    log(f"accepted {json.dumps(req)}")
    return req


def _download_master(req: dict, s: Settings) -> Path:
    """The master on local disk, or its mezzanine (vodflow.media.mezzanine): AV1 decoded losslessly, HDR
    tone-mapped to SDR BT.709, MPEG-TS/PS stream-copied into an indexed container."""
    from vodflow.media.mezzanine import decodable_master

    wd = work_dir(req["video_id"], req["publish_id"], s)
    local = wd / ("master" + Path(req["source_key"]).suffix.lower())
    if not local.exists():
        tmp = local.with_suffix(local.suffix + ".part")
        s3_client(s).download_file(s.bucket_masters, req["source_key"], str(tmp))
        tmp.rename(local)
    return decodable_master(local, wd)


def inspect(req: dict, s: Settings | None = None, log: Log = print) -> dict[str, Any]:
    """Probe + validate the master and plan the ladder. Bad input raises IngestRejected with the reason."""
    from vodflow import media

    s = s or get_settings()
    local = _download_master(req, s)
    try:
        info = media.validate_source(local)
    except media.InvalidSourceError as e:
        log(f"rejected [{e.code}]: {e.reason}" + (f"\n{e.details}" if e.details else ""))
        raise IngestRejected(e.reason, e.code, e.details) from e
    if not media.plan_ladder(info):
        raise IngestRejected("No rendition can be made from this picture size: send a video of at least "
                             "2x2 pixels.", "no_rendition")
    wd = work_dir(req["video_id"], req["publish_id"], s)
    original = wd / ("master" + Path(req["source_key"]).suffix.lower())
    rungs, analysis = plan_title_ladder(info, wd / "ladder", s.ladder_mode, log,
                                        original=original if Path(local) != original else None)
    log(f"source {info.video_codec} {info.display_width}x{info.display_height} {info.fps:.3f} fps "
        f"{info.duration:.2f}s audio={info.has_audio}; {analysis['mode']} ladder: {', '.join(r.name for r in rungs)}")
    return {"source": info.to_dict(), "ladder": [rung_to_dict(r) for r in rungs], "ladder_analysis": analysis}


def plan_title_ladder(info, work: Path, mode: str, log: Log = print,
                      original: Path | None = None) -> tuple[list, dict[str, Any]]:
    """The title's rungs and how they were chosen (``{"mode": "fixed"|"per-title", ...}``).

    ``per-title`` runs the trial encodes (vodflow.media.trials); without a VMAF-capable ffmpeg it
    falls back to the fixed ladder and records why, so a title never fails for want of the analysis.
    ``original``: the uploaded master when ``info`` is its lossless mezzanine (its bitrate caps the rungs).
    """
    from vodflow import media
    from vodflow.media.trials import plan_per_title, source_kbps
    from vodflow.media.vmaf import VmafUnavailable, check_vmaf

    fixed = media.plan_ladder(info)
    if mode == "fixed":
        return fixed, {"mode": "fixed"}
    try:
        check_vmaf()
    except VmafUnavailable as e:
        log(f"per-title ladder unavailable, using the fixed ladder: {e}")
        return fixed, {"mode": "fixed", "fallback_reason": str(e)}
    rungs, analysis = plan_per_title(info, work, log=log,
                                     source_rate=source_kbps(media.probe(original)) if original else None)
    shutil.rmtree(work, ignore_errors=True)  # trial encodes and the sample: only the numbers are kept
    return rungs, {"mode": "per-title", **analysis.to_dict()}


LADDER_DIR = "ladder"


def write_ladder_report(analysis: dict[str, Any], rungs: list, out: Path) -> dict[str, str]:
    """``ladder/analysis.json`` (+ ``ladder/rate_quality.png`` for per-title) in the publish folder;
    returns their paths relative to ``out``."""
    d = out / LADDER_DIR
    d.mkdir(parents=True, exist_ok=True)
    report = {**analysis, "rungs": [rung_to_dict(r) for r in rungs]}
    (d / "analysis.json").write_text(json.dumps(report, indent=1))
    files = {"analysis": f"{LADDER_DIR}/analysis.json"}
    if analysis.get("mode") == "per-title":
        from vodflow.media.per_title import Pick, TrialPoint
        from vodflow.media.rate_quality_plot import plot_rate_quality

        points = [TrialPoint(**p) for p in analysis["points"]]
        picks = [Pick(**p) for p in analysis["picks"]]
        plot_rate_quality(points, picks, d / "rate_quality.png", title=f"rate-quality trials ({len(points)} encodes)")
        files["plot"] = f"{LADDER_DIR}/rate_quality.png"
    return files


def transcode(req: dict, plan: dict, s: Settings | None = None, log: Log = print) -> dict[str, Any]:
    """Encode, package, thumbnail and upload the publish set. Returns what go_live records."""
    from vodflow import media
    from vodflow.media.encode import EncodeOptions

    s = s or get_settings()
    # the title's CENC key first: a bad master key fails the run before minutes of encoding
    key = packaging_key(req["video_id"], s)
    local = _download_master(req, s)
    wd = work_dir(req["video_id"], req["publish_id"], s)
    info = media.probe(local)
    rungs = [rung_from_dict(d) for d in plan["ladder"]]
    out = wd / "publish"
    if out.exists():
        shutil.rmtree(out)  # a retry starts the set from scratch: identical keys, no leftovers
    t0 = time.monotonic()
    last = [0.0]

    def progress(p) -> None:
        if p.fraction - last[0] >= 0.1 or p.fraction >= 1:
            last[0] = p.fraction
            log(f"encode {p.fraction:5.0%}  {p.seconds_done:.1f}/{p.total_seconds:.1f}s content")

    with _Stage("encode"):
        enc = media.encode_ladder(info, rungs, wd / "renditions", options=EncodeOptions(), progress=progress)
    log(f"encoded {len(rungs)} rungs in {time.monotonic() - t0:.1f}s ({enc.throughput:.2f}x realtime)")
    with _Stage("package"):
        pkg = media.package(enc, out, encryption=key)
    log(f"packaged {'CENC-encrypted, ClearKey kid ' + key.key_id if key else 'in the clear (VODFLOW_DRM=off)'}")
    analysis = plan.get("ladder_analysis") or {"mode": "fixed"}
    ladder_files = write_ladder_report(analysis, rungs, out)
    with _Stage("posters"):
        posters = media.make_posters(info, out / "thumbs")
    with _Stage("storyboard"):
        board = media.make_storyboard(enc.renditions[0].path if enc.renditions else local, out / "thumbs")
    with _Stage("publish"):
        published = publish_dir(out, req["video_id"], req["publish_id"], [pkg.master_playlist], s,
                                progress=None)
    prefix = published.prefix
    rel = lambda p: prefix + Path(p).relative_to(out).as_posix()  # noqa: E731
    renditions = []
    for r in rungs:
        v = pkg.variants.get(r.name)
        renditions.append({
            "name": r.name, "width": r.width, "height": r.height, "fps": float(r.fps),
            "codecs": _codecs_of(pkg, r.name),
            "bandwidth": v.bandwidth if v else 0, "average_bandwidth": v.average_bandwidth if v else 0,
            "measured_avg_bitrate": v.video.average if v else 0, "measured_peak_bitrate": v.video.peak if v else 0,
            "playlist_key": prefix + pkg.media_playlists.get(r.name, ""),
        })
    result = {
        "publish_prefix": prefix,
        "manifests": {"hls": prefix + pkg.master_playlist, "dash": prefix + pkg.mpd},
        "thumbnails": {
            "posters": {str(p.width): rel(p.path) for p in posters.posters},
            "storyboard_vtt": rel(board.vtt), "storyboard_sheets": [rel(x) for x in board.sheets],
        },
        "renditions": renditions,
        "source": plan["source"],
        "ladder": {"mode": analysis["mode"], "picks": analysis.get("picks", []),
                   **({"fallback_reason": analysis["fallback_reason"]} if "fallback_reason" in analysis else {}),
                   **{f"{k}_key": prefix + v for k, v in ladder_files.items()}},
        "drm": {"scheme": key.protection_scheme, "system": "clearkey", "kids": [key.key_id]} if key else None,
        "files": len(published.keys), "bytes": published.bytes,
    }
    log(f"published {len(published.keys)} files ({published.bytes / 1e6:.1f} MB) under {prefix}")
    return result


def _codecs_of(pkg, name: str) -> str:
    try:
        import m3u8

        master = m3u8.load(str(pkg.path(pkg.master_playlist)))
        playlist = pkg.media_playlists.get(name)
        for p in master.playlists:
            if p.uri == playlist:
                return p.stream_info.codecs or ""
    except Exception:  # noqa: BLE001 - codecs string is informative only
        pass
    return ""


def go_live(req: dict, result: dict, s: Settings | None = None, log: Log = print) -> dict[str, Any]:
    """Flip the catalog to the new publish set, then delete every other set of this title."""
    from vodflow import catalog

    s = s or get_settings()
    rec = catalog.mark_ready(req["video_id"], result["renditions"], result["manifests"],
                             thumbnails=result["thumbnails"],
                             source_props={**result["source"], "ladder": result.get("ladder", {"mode": "fixed"})},
                             run_id=req["run_id"])
    removed = unpublish(req["video_id"], keep=req["publish_id"], settings=s)
    shutil.rmtree(s.home / "work" / req["video_id"] / req["publish_id"], ignore_errors=True)
    log(f"{req['video_id']} is ready ({len(result['renditions'])} renditions); removed {removed} old objects")
    prewarm_on_publish(rec, s, log)
    return rec.to_dict()


def prewarm_on_publish(rec, s: Settings, log: Log = print):
    """A new release's first viewers hit a warm edge: prewarm the published title through the signed edge
    path (vodflow.cdn.prewarm: playlists, init segments, the first segments of every rung) unless
    ``VODFLOW_EDGE_PREWARM_ON_PUBLISH`` is off. Best effort: an edge that is down or refuses costs the
    release nothing but the warm start (logged); the title is live either way. Returns the result or None."""
    from vodflow.cdn.prewarm import prewarm_title

    if s["VODFLOW_EDGE_PREWARM_ON_PUBLISH"].strip().lower() in ("0", "false", "no", "off", ""):
        return None
    try:
        r = prewarm_title(s, rec.id, rec.hls_master_key, rec.dash_mpd_key)
    except Exception as e:  # noqa: BLE001 - e.g. no CDN signing key here: the title is live regardless
        log(f"{rec.id}: edge not prewarmed on publish ({type(e).__name__}: {e}); its first viewers fill it")
        return None
    log(f"{rec.id}: edge prewarmed on publish: {r.misses} objects filled, {r.hits} already cached"
        + (f"; {len(r.errors)} failed (first: {r.errors[0]})" if r.errors else ""))
    return r


def fail(req: dict | None, reason: str, s: Settings | None = None, log: Log = print) -> None:
    """Record the failure and remove whatever this run published (never the live set)."""
    from vodflow import catalog

    s = s or get_settings()
    if not req:
        return
    try:
        catalog.mark_failed(req["video_id"], reason[:2000], run_id=req.get("run_id"))
    except catalog.CatalogError as e:
        log(f"could not mark {req['video_id']} failed: {e}")
    n = unpublish(req["video_id"], publish_id=req["publish_id"], settings=s)
    shutil.rmtree(s.home / "work" / req["video_id"] / req["publish_id"], ignore_errors=True)
    log(f"{req['video_id']} failed: {reason}; removed {n} objects of publish set {req['publish_id']}")


def published_keys(video_id: str, s: Settings | None = None) -> list[str]:
    from vodflow.ingest.publish import list_keys

    s = s or get_settings()
    return list_keys(title_prefix(video_id), s.bucket_origin, s)
