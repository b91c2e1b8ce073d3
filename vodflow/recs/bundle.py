"""The model being served: :class:`Bundle` and the :class:`BundleWatcher` that loads and swaps it.

No HTTP, no Spark.  The registered model tag ``vodflow.serving_bundle`` (set by the DAG's ``publish``
task, :mod:`vodflow.recs.scoring`) names the run artifact ``serving/factors.npz``.  The watcher polls
the tag at most every ``refresh_seconds`` (in a background thread once a bundle is loaded, so no
request waits for the registry); when it changes (a new champion, or the nightly refresh of
the champion's seen sets) the file is downloaded and swapped in, and ``on_swap`` is called (the
service clears its response cache there).  A failed poll keeps the bundle being served and records
the reason in ``last_error``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vodflow.recs.background import refresh_in_background
from vodflow.recs.factors import FactorModel
from vodflow.settings import Settings

log = logging.getLogger("vodflow.api.recs")


@dataclass
class Bundle:
    """The factor model being served and where it came from."""

    model: FactorModel
    info: dict[str, Any]
    key: str
    unit_items: np.ndarray = field(init=False)
    item_row: dict[str, int] = field(init=False)
    item_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.item_names = [str(v) for v in self.model.item_ids.tolist()]  # row -> id, as response strings
        self.item_row = {v: i for i, v in enumerate(self.item_names)}
        norms = np.linalg.norm(self.model.item_factors, axis=1, keepdims=True)
        self.unit_items = self.model.item_factors / np.maximum(norms, 1e-12)

    @property
    def version(self) -> str | None:
        return self.info.get("model_version")

    def seen_rows(self, row: int) -> np.ndarray:
        """Item rows the user at ``row`` already has."""
        m = self.model
        return m.seen_indices[m.seen_indptr[row]:m.seen_indptr[row + 1]]


class BundleWatcher:
    """Polls the registry for ``model_name``'s serving bundle and keeps the newest one loaded."""

    def __init__(self, settings: Settings, model_name: str, refresh_seconds: float = 30.0,
                 on_swap: Callable[[Bundle, Bundle | None], None] | None = None):
        self.s = settings
        self.model_name = model_name
        self.refresh_seconds = refresh_seconds
        self.on_swap = on_swap
        self.bundle: Bundle | None = None
        self.champion: str | None = None
        self.last_error: str | None = None
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def _due(self) -> bool:
        return self._checked_at is None or time.monotonic() - self._checked_at >= self.refresh_seconds

    def refresh(self, force: bool = False) -> Bundle | None:
        """The bundle to serve; polls the registry at most every ``refresh_seconds`` and swaps in a
        changed bundle.

        Once a bundle is loaded, a due poll runs in a background thread and this call returns the
        bundle being served at once: a request never waits for the registry or a download (a poll
        held every concurrent request on the lock for the registry's round trip: the serving p99).
        The first load, ``force`` and ``refresh_seconds == 0`` poll in the caller's thread.
        """
        if not force and not self._due():
            return self.bundle
        if not force and self.bundle is not None and self.refresh_seconds > 0:
            refresh_in_background(self._lock, "recs-bundle-poll", self._poll_if_due)  # one poll at a time
            return self.bundle
        with self._lock:
            if not force and not self._due():
                return self.bundle
            self._poll()
        return self.bundle

    def _poll_if_due(self) -> None:
        if self._due():
            self._poll()

    def _poll(self) -> None:
        try:
            self._refresh_locked()
            self.last_error = None
        except Exception as e:  # noqa: BLE001 - keep serving what we have
            self.last_error = f"{type(e).__name__}: {e}"
            log.warning("recs: could not refresh the serving bundle of %s: %s", self.model_name, e)
        self._checked_at = time.monotonic()

    def _refresh_locked(self) -> None:
        from vodflow.recs import registry

        c = registry.client(self.s)
        info, champion = registry.get_serving_bundle(c, self.model_name)
        self.champion = champion
        if info is None:
            return
        key = f"{info['run_id']}:{info['artifact_path']}:{info.get('model_version')}"
        if self.bundle is not None and self.bundle.key == key:
            return
        with tempfile.TemporaryDirectory(prefix="recs-bundle-") as tmp:
            path = registry.download(c, info["run_id"], info["artifact_path"], tmp)
            model = FactorModel.load(path)
        old = self.bundle
        self.bundle = Bundle(model, info, key)
        if self.on_swap is not None:
            self.on_swap(self.bundle, old)
        log.info("recs: serving %s version %s (run %s, table v%s)%s", self.model_name, info.get("model_version"),
                 info["run_id"], info.get("table_version"),
                 f", replacing version {old.version}" if old is not None else "")
