"""Media processing for the ingest pipeline: probe/validate, plan the ladder, encode, package,
thumbnails, and measurements. A pure library: no S3, Kafka or Airflow in here.

Typical use (what the ingest DAG does)::

    from vodflow import media
    from vodflow.media.mezzanine import decodable_master

    path = decodable_master(path, work)                     # AV1 decoded, HDR tone-mapped, TS remuxed
    info = media.validate_source(path)                      # raises media.InvalidSourceError
    rungs = media.plan_ladder(info)
    enc = media.encode_ladder(info, rungs, work / "renditions", progress=print)
    pkg = media.package(enc, work / "package")              # HLS + DASH, measured BANDWIDTH
    posters = media.make_posters(info, work / "package" / "thumbs")
    board = media.make_storyboard(enc.renditions[0].path, work / "package" / "thumbs")
"""

from vodflow.media.encode import (
    EncodeOptions,
    EncodeProgress,
    EncodeResult,
    Rendition,
    encode_ladder,
    encode_ladder_per_rung,
    encode_ladder_single_process,
)
from vodflow.media.ladder import Rung, plan_ladder, plan_ladder_for
from vodflow.media.package import PackageResult, RawKey, package, package_files
from vodflow.media.probe import InvalidSourceError, SourceInfo, probe, validate_source
from vodflow.media.thumbnails import PosterSet, Storyboard, make_posters, make_storyboard
from vodflow.media.tools import MediaToolError

__all__ = [
    "EncodeOptions", "EncodeProgress", "EncodeResult", "InvalidSourceError", "MediaToolError",
    "PackageResult", "PosterSet", "RawKey", "Rendition", "Rung", "SourceInfo", "Storyboard",
    "encode_ladder", "encode_ladder_per_rung", "encode_ladder_single_process", "make_posters",
    "make_storyboard", "package", "package_files", "plan_ladder", "plan_ladder_for", "probe",
    "validate_source",
]
