"""MovieLens loaders: ML-100K's ``u.data`` and ml-latest's ``ratings.csv``.

Both return one pandas frame with the column names of the Microsoft Recommenders
benchmark (``userID``, ``itemID``, ``rating``, ``timestamp``) so the split and the
metrics work on either.  The data is read from wherever it lives: nothing is copied
into the repository, and nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from vodflow.settings import REPO_ROOT

COL_USER = "userID"
COL_ITEM = "itemID"
COL_RATING = "rating"
COL_TIMESTAMP = "timestamp"
COL_PREDICTION = "prediction"
COLUMNS = [COL_USER, COL_ITEM, COL_RATING, COL_TIMESTAMP]

#: Where the shared ml-latest-small copy sits next to the checkout (never inside it).
LATEST_SMALL_DIR = REPO_ROOT.parent / "shared" / "data" / "movielens" / "ml-latest-small"

_DTYPES = {COL_USER: np.int64, COL_ITEM: np.int64, COL_RATING: np.float64, COL_TIMESTAMP: np.int64}


class MovieLensFormatError(ValueError):
    """The file is not one of the two supported MovieLens rating formats."""


def load_ml100k(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ML-100K ``u.data``: tab separated ``user item rating timestamp``, no header.

    ``path`` is the file itself or the ``ml-100k`` directory holding it.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "u.data"
    df = pd.read_csv(p, sep="\t", header=None, names=COLUMNS, dtype=_DTYPES, engine="c")
    _check(df, p)
    return df


def load_ml_latest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ml-latest(-small) ``ratings.csv``: ``userId,movieId,rating,timestamp`` with a header.

    ``path`` is the file itself or the directory holding it.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "ratings.csv"
    df = pd.read_csv(p, sep=",", header=0)
    expected = ["userId", "movieId", "rating", "timestamp"]
    if list(df.columns) != expected:
        raise MovieLensFormatError(f"{p}: header {list(df.columns)} is not {expected}")
    df.columns = COLUMNS
    df = df.astype(_DTYPES)
    _check(df, p)
    return df


def load_movielens(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load either format, picked from the path (directory, ``u.data``, ``*.csv``) and content."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"MovieLens data not found at {p}")
    if p.is_dir():
        if (p / "u.data").is_file():
            return load_ml100k(p / "u.data")
        if (p / "ratings.csv").is_file():
            return load_ml_latest(p / "ratings.csv")
        raise MovieLensFormatError(f"{p} holds neither u.data (ML-100K) nor ratings.csv (ml-latest)")
    with open(p, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    if first.startswith("userId,"):
        return load_ml_latest(p)
    if "\t" in first:
        return load_ml100k(p)
    raise MovieLensFormatError(
        f"{p}: first line {first.strip()[:60]!r} is neither a ratings.csv header nor tab-separated u.data"
    )


def dataset_name(path: str | os.PathLike[str]) -> str:
    """A short label for reports: the directory name (``ml-100k``, ``ml-latest-small``)."""
    p = Path(path).resolve()
    return p.name if p.is_dir() else p.parent.name


def _check(df: pd.DataFrame, p: Path) -> None:
    if df.empty:
        raise MovieLensFormatError(f"{p}: no ratings")
    if df[COLUMNS].isna().any().any():
        raise MovieLensFormatError(f"{p}: missing values")
    if df.duplicated([COL_USER, COL_ITEM]).any():
        raise MovieLensFormatError(f"{p}: duplicate (user, item) ratings")
