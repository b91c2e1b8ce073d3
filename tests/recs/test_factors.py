"""Numpy top-N serving and the .npz factor file."""

import numpy as np
import pytest

from vodflow.recs.factors import FactorModel, seen_csr, top_n_scores


def _brute(uv, itf, n, seen):
    out = []
    for u, v in enumerate(uv):
        s = itf @ v
        cand = [i for i in range(len(itf)) if i not in seen.get(u, set())]
        cand.sort(key=lambda i: (-s[i], i))
        out.append(cand[:n])
    return out


def test_top_n_matches_brute_force_and_excludes_seen():
    rng = np.random.default_rng(0)
    uv = rng.normal(size=(30, 5)).astype(np.float32)
    itf = rng.normal(size=(50, 5)).astype(np.float32)
    pairs = [(u, i) for u in range(30) for i in rng.choice(50, 8, replace=False)]
    seen = {}
    for u, i in pairs:
        seen.setdefault(u, set()).add(int(i))
    indptr, indices = seen_csr(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), 30)
    items, scores = top_n_scores(uv, itf, 7, indptr, indices)
    assert items.tolist() == _brute(uv, itf, 7, seen)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_top_n_all_in_blocks_and_threads_matches_brute_force(monkeypatch):
    """Many small blocks scored by two threads: the same lists as brute force, seen titles masked."""
    import vodflow.recs.factors as factors

    rng = np.random.default_rng(1)
    uv = rng.normal(size=(40, 4)).astype(np.float32)
    itf = rng.normal(size=(25, 4)).astype(np.float32)
    pairs = [(u, int(i)) for u in range(40) for i in rng.choice(25, 5, replace=False)]
    seen: dict[int, set[int]] = {}
    for u, i in pairs:
        seen.setdefault(u, set()).add(i)
    indptr, indices = seen_csr(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), 40)
    monkeypatch.setattr(factors, "BLOCK_SCORES", 3 * 25)  # 3 users per block: 14 blocks
    fm = FactorModel(np.arange(40), np.arange(25), uv, itf, indptr, indices, np.ones(25))
    items, scores = fm.top_n_all(6, threads=2)
    assert items.tolist() == _brute(uv, itf, 6, seen)
    assert np.allclose(scores, np.take_along_axis(uv @ itf.T, items, axis=1), atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert fm.top_n_all(6, threads=1)[0].tolist() == items.tolist()


def test_top_n_pads_when_catalog_exhausted():
    uv = np.ones((1, 2), np.float32)
    itf = np.array([[1, 0], [2, 0], [3, 0]], np.float32)
    items, scores = top_n_scores(uv, itf, 5, np.array([0, 1]), np.array([2]))
    assert items.tolist() == [[1, 0, -1, -1, -1]]
    assert np.isneginf(scores[0, 2:]).all()


def _model(user_ids, item_ids):
    uf = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    itf = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 3.0], [1.0, 1.0]], np.float32)
    indptr, indices = seen_csr(np.array([0, 1]), np.array([0, 2]), 2)  # user0 saw item0, user1 saw item2
    return FactorModel(user_ids, item_ids, uf, itf, indptr, indices, np.array([5, 9, 1, 9]), {"v": 1})


@pytest.mark.parametrize("uids,iids", [([10, 20], [100, 101, 102, 103]),
                                       (["alice", "bob"], ["v-a", "v-b", "v-c", "v-d"])])
def test_save_load_roundtrip_and_top_n(tmp_path, uids, iids):
    fm = _model(uids, iids)
    path = fm.save(tmp_path / "sub" / "factors.npz")
    assert path.name == "factors.npz"
    back = FactorModel.load(path)
    assert back.meta == {"v": 1} and back.rank == 2
    np.testing.assert_array_equal(back.user_factors, fm.user_factors)
    # user0 scores: items [3, 2, 0, 1] -> item0 seen -> item1 (2), item3 (1), item2 (0)
    assert [i for i, _ in back.top_n(uids[0], 3)] == [iids[1], iids[3], iids[2]]
    assert [i for i, _ in back.top_n(uids[0], 2, exclude_seen=False)] == [iids[0], iids[1]]
    assert [i for i, _ in back.top_n(uids[1], 2, exclude=[iids[1]])] == [iids[3], iids[0]]
    # unknown user: popularity fallback (ties by row), scores nan
    pop = back.top_n("nobody" if isinstance(uids[0], str) else 999, 3)
    assert [i for i, _ in pop] == [iids[1], iids[3], iids[0]]
    assert all(np.isnan(s) for _, s in pop)
    items, _ = back.top_n_all(2)
    assert items.tolist() == [[1, 3], [1, 3]]


def test_chunked_top_n_matches_brute_force_on_a_large_catalog():
    """More than k + 1 chunks of CHUNK titles: the chunk-minimum pre-selection, with a short last chunk,
    seen titles masked, and ties (rounded factors: whole-row fallback where chunk minima tie)."""
    from vodflow.recs.factors import CHUNK

    rng = np.random.default_rng(7)
    n_items = 30 * CHUNK + 17
    uv = rng.normal(size=(60, 6)).astype(np.float32)
    itf = rng.normal(size=(n_items, 6)).astype(np.float32)
    pairs = [(u, int(i)) for u in range(60) for i in rng.choice(n_items, 40, replace=False)]
    seen: dict[int, set[int]] = {}
    for u, i in pairs:
        seen.setdefault(u, set()).add(i)
    indptr, indices = seen_csr(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), 60)
    items, _ = top_n_scores(uv, itf, 10, indptr, indices)
    assert items.tolist() == _brute(uv, itf, 10, seen)
    tied = np.round(itf, 0)  # many equal scores: the top-10 values must still be the true ones
    items, scores = top_n_scores(np.ones((60, 6), np.float32), tied, 10, indptr, indices)
    want = [[float((tied @ np.ones(6))[i]) for i in row] for row in _brute(np.ones((60, 6)), tied, 10, seen)]
    assert np.allclose(scores, want)
    assert all(not (set(row) & seen[u]) for u, row in enumerate(items.tolist()))
