"""Metrics against hand-computed examples (definitions of Microsoft Recommenders' python_evaluation)."""

import math

import numpy as np
import pandas as pd
import pytest

from vodflow.recs import metrics as M

# user 1: relevant {1, 2, 3, 10} (4 items > k=3); user 2: {4}; user 3: {5, 6} but no predictions.
TRUTH = pd.DataFrame({"userID": [1, 1, 1, 1, 2, 3, 3], "itemID": [1, 2, 3, 10, 4, 5, 6]})
# user 1 ranks 1, 7, 3 | 2 ; user 2 ranks 8, 4, 9 ; user 4 is not in the truth (ignored).
PRED = pd.DataFrame({
    "userID": [1, 1, 1, 1, 2, 2, 2, 4],
    "itemID": [2, 3, 7, 1, 9, 4, 8, 1],
    "prediction": [0.6, 0.7, 0.8, 0.9, 0.3, 0.4, 0.5, 1.0],
})
K = 3


def test_precision_hand():
    # user 1: hits at ranks 1 and 3 -> 2/3 ; user 2: hit at rank 2 -> 1/3 ; 2 common users
    assert M.precision_at_k(TRUTH, PRED, k=K) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_recall_hand():
    assert M.recall_at_k(TRUTH, PRED, k=K) == pytest.approx((2 / 4 + 1 / 1) / 2)


def test_map_normalises_by_all_relevant_items():
    # user 1: (1/1 + 2/3) / 4 ; user 2: (1/2) / 1
    assert M.map_score(TRUTH, PRED, k=K) == pytest.approx(((1 + 2 / 3) / 4 + 0.5) / 2)  # 11/24
    assert M.map_score(TRUTH, PRED, k=K) == pytest.approx(11 / 24)


def test_map_at_k_normalises_by_min_actual_k():
    assert M.map_at_k(TRUTH, PRED, k=K) == pytest.approx(((1 + 2 / 3) / 3 + 0.5) / 2)  # 19/36


def test_ndcg_binary_hand():
    # log2 discount for readability; the base cancels in DCG / IDCG.
    u1 = (1 + 1 / 2) / (1 + 1 / math.log2(3) + 1 / 2)  # hits at ranks 1, 3; IDCG over min(4, 3) = 3
    u2 = (1 / math.log2(3)) / 1.0  # hit at rank 2; IDCG over 1 item
    assert M.ndcg_at_k(TRUTH, PRED, k=K) == pytest.approx((u1 + u2) / 2)
    # newer upstream variant: average over every test user (user 3 has no predictions -> 0)
    assert M.ndcg_at_k(TRUTH, PRED, k=K, users="truth") == pytest.approx((u1 + u2) / 3)


def test_ranking_metrics_bundle_matches_single_functions():
    r = M.ranking_metrics(TRUTH, PRED, k=K)
    assert r["MAP"] == pytest.approx(M.map_score(TRUTH, PRED, k=K))
    assert r["nDCG@k"] == pytest.approx(M.ndcg_at_k(TRUTH, PRED, k=K))
    assert r["Precision@k"] == pytest.approx(M.precision_at_k(TRUTH, PRED, k=K))
    assert r["Recall@k"] == pytest.approx(M.recall_at_k(TRUTH, PRED, k=K))
    assert r["users"] == 2


def test_perfect_and_empty():
    truth = pd.DataFrame({"userID": [1, 1], "itemID": [5, 6]})
    perfect = pd.DataFrame({"userID": [1, 1], "itemID": [6, 5], "prediction": [2.0, 1.0]})
    r = M.ranking_metrics(truth, perfect, k=2)
    assert r["nDCG@k"] == pytest.approx(1.0) and r["MAP"] == pytest.approx(1.0)
    assert r["Precision@k"] == pytest.approx(1.0) and r["Recall@k"] == pytest.approx(1.0)
    miss = pd.DataFrame({"userID": [1], "itemID": [9], "prediction": [1.0]})
    assert M.ranking_metrics(truth, miss, k=2)["nDCG@k"] == 0.0
    # precision divides by k even when fewer than k items are recommended
    assert M.precision_at_k(truth, perfect.iloc[:1], k=10) == pytest.approx(0.1)


def test_top_k_ties_keep_input_order():
    pred = pd.DataFrame({"userID": [1, 1, 1], "itemID": [30, 10, 20], "prediction": [1.0, 1.0, 1.0]})
    top = M.get_top_k_items(pred, k=2)
    assert top["itemID"].tolist() == [30, 10] and top["rank"].tolist() == [1, 2]


def test_topk_frame_drops_padding_and_keeps_order():
    df = M.topk_frame(np.array([7, 8]), np.array([[3, 1, -1], [2, -1, -1]]))
    assert df.values.tolist() == [[7, 3, 3.0], [7, 1, 2.0], [8, 2, 3.0]]
    truth = pd.DataFrame({"userID": [7, 8], "itemID": [1, 2]})
    assert M.precision_at_k(truth, df, k=3) == pytest.approx((1 / 3 + 1 / 3) / 2)


def test_duplicate_truth_rejected():
    with pytest.raises(ValueError):
        M.ranking_metrics(pd.concat([TRUTH, TRUTH.iloc[:1]]), PRED)
