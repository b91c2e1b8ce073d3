"""Loaders of both MovieLens formats, on small files the test writes."""

import pandas as pd
import pytest

from vodflow.recs.movielens import (
    LATEST_SMALL_DIR,
    MovieLensFormatError,
    load_ml100k,
    load_ml_latest,
    load_movielens,
)

UDATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
CSV = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,50,0.5,964982224\n"


def test_ml100k_file_and_dir(tmp_path):
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text(UDATA)
    for path in (d / "u.data", d):
        df = load_ml100k(path)
        assert list(df.columns) == ["userID", "itemID", "rating", "timestamp"]
        assert df.iloc[0].tolist() == [196, 242, 3.0, 881250949]
        assert df.dtypes["userID"].kind == "i" and df.dtypes["rating"].kind == "f"
        pd.testing.assert_frame_equal(load_movielens(path), df)


def test_latest_file_and_dir(tmp_path):
    (tmp_path / "ratings.csv").write_text(CSV)
    df = load_ml_latest(tmp_path)
    assert df.values.tolist() == [[1, 1, 4.0, 964982703], [1, 3, 4.5, 964981247], [2, 50, 0.5, 964982224]]
    pd.testing.assert_frame_equal(load_movielens(tmp_path / "ratings.csv"), df)
    pd.testing.assert_frame_equal(load_movielens(tmp_path), df)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "nope")
    (tmp_path / "x.csv").write_text("a,b,c,d\n1,2,3,4\n")
    with pytest.raises(MovieLensFormatError):
        load_movielens(tmp_path / "x.csv")
    with pytest.raises(MovieLensFormatError):
        load_movielens(tmp_path)  # a directory with neither file
    (tmp_path / "dup.data").write_text("1\t2\t3\t4\n1\t2\t5\t6\n")
    with pytest.raises(MovieLensFormatError):
        load_ml100k(tmp_path / "dup.data")


@pytest.mark.skipif(not (LATEST_SMALL_DIR / "ratings.csv").is_file(),
                    reason=f"ml-latest-small not found at {LATEST_SMALL_DIR} (shared data absent)")
def test_real_latest_small():
    df = load_movielens(LATEST_SMALL_DIR)
    assert len(df) == 100836
    assert df.userID.nunique() == 610 and df.itemID.nunique() == 9724
    assert df.rating.min() == 0.5 and df.rating.max() == 5.0
