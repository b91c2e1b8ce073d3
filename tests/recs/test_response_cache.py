"""The recommendations response cache against a real redis-server (started here), and its fallbacks."""

from __future__ import annotations

import time

from vodflow.recs.response_cache import LocalCache, RedisCache, make_cache
from vodflow.settings import load


def test_make_cache_picks_redis_only_when_configured(redis_url):
    assert isinstance(make_cache(load({}), 60, 10), LocalCache)
    assert isinstance(make_cache(load({"VODFLOW_REDIS_URL": redis_url}), 60, 10), RedisCache)


def test_redis_round_trip_is_shared_and_cleared_for_every_replica(redis_url):
    a, b = RedisCache(redis_url, ttl=60, namespace="t1"), RedisCache(redis_url, ttl=60, namespace="t1")
    key = ("bundle-v3", "user", "u1", "US", 20)
    body = {"user_id": "u1", "items": [{"video_id": "v1", "score": 0.5}], "count": 1}
    assert a.get(key) is None
    a.set(key, body)
    assert b.get(key) == body                      # another API replica sees it
    assert a.get(("bundle-v4",) + key[1:]) is None  # a new champion's key never hits the old answer
    a.clear()                                       # champion changed: invalidate everywhere
    b._gen = None                                   # (b re-reads the generation at most every second)
    assert a.get(key) is None and b.get(key) is None


def test_redis_entries_expire(redis_url):
    c = RedisCache(redis_url, ttl=1, namespace="t2")
    c.set(("k",), {"v": 1})
    assert c.get(("k",)) == {"v": 1}
    time.sleep(2.1)
    assert c.get(("k",)) is None


def test_redis_down_degrades_to_misses_not_errors(caplog):
    c = RedisCache("redis://127.0.0.1:1/0", ttl=60, namespace="t3")  # nothing listens on port 1
    with caplog.at_level("WARNING", logger="vodflow.recs.cache"):
        assert c.get(("k",)) is None
        c.set(("k",), {"v": 1})
        c.clear()
    assert c.errors == 3
    assert "unset VODFLOW_REDIS_URL" in caplog.text   # logged once, naming the fix


def test_local_cache_ttl_and_clear():
    c = LocalCache(ttl=60, size=2)
    c.set(("a",), 1)
    c.set(("b",), 2)
    c.set(("c",), 3)                                # LRU: size 2
    assert c.get(("a",)) is None and c.get(("c",)) == 3
    c.clear()
    assert len(c) == 0
