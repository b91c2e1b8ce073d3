"""Signed-URL attacks against the edge (docs/security.md): forged, expired, wrong-path, other-title
signatures and path traversal are refused, and nothing refused reaches the origin or another title.

The edge is this checkout's nginx config on a private port (tests/cdn/edgekit.py) with this
checkout's verifier, in front of the stack's real origin; objects are real objects in the origin
bucket. Requests are sent byte for byte (http.client: no client-side ``..`` normalisation).
"""

from __future__ import annotations

import http.client
import time
import uuid

import pytest
from edgekit import origin_requests, private_edge, publish, unpublish

from vodflow.cdn.signing import sign_prefix
from vodflow.settings import load


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    with private_edge(tmp_path_factory.mktemp("edge-sec")) as s:
        yield s


@pytest.fixture(scope="module")
def titles(edge):
    a, b = (f"sec-{uuid.uuid4().hex[:12]}" for _ in range(2))
    keys = []
    for vid in (a, b):
        keys += publish(edge, vid, {"p1/master.m3u8": b"#EXTM3U\n", "p1/v1/seg_1.m4s": f"media of {vid}".encode(),
                                    "p1/v1/seg_2.m4s": f"more of {vid}".encode()})
    yield a, b
    unpublish(edge, keys)


def _get(s, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", int(s["VODFLOW_EDGE_PORT"]), timeout=20)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _query(s, prefix: str, expires_in: float = 600) -> str:
    return sign_prefix(s, prefix, time.time() + expires_in).query


def test_a_valid_signature_is_served(edge, titles):
    a, _ = titles
    status, headers, body = _get(edge, f"/videos/{a}/p1/v1/seg_1.m4s?{_query(edge, f'/videos/{a}/')}")
    assert status == 200 and body == f"media of {a}".encode()


@pytest.mark.parametrize("attack,reason", [
    ("forged", "bad signature"),          # a policy signed with another private key, our key-pair id
    ("expired", "expired"),
    ("wrong_path", "resource mismatch"),  # signed for p1/v1/ only, used on p1/master.m3u8
    ("other_title", "resource mismatch"),
    ("unsigned", "missing"),
])
def test_bad_signatures_are_refused_without_reaching_the_origin(edge, titles, attack, reason, tmp_path):
    a, b = titles
    path = f"/videos/{a}/p1/master.m3u8" if attack == "wrong_path" else f"/videos/{a}/p1/v1/seg_2.m4s"
    if attack == "forged":
        attacker = load({**edge.values, "VODFLOW_HOME": str(tmp_path)})   # a key pair of its own
        q = _query(attacker, f"/videos/{a}/")
    elif attack == "expired":
        q = _query(edge, f"/videos/{a}/", expires_in=-1)
    elif attack == "wrong_path":
        q = _query(edge, f"/videos/{a}/p1/v1/")
    elif attack == "other_title":
        q = _query(edge, f"/videos/{b}/")
    else:
        q = ""
    status, headers, body = _get(edge, f"{path}?{q}" if q else path)
    assert status == 403 and headers["x-edge-deny-reason"] == reason, (status, headers, body)
    assert b"media of" not in body
    assert origin_requests(edge, path) == 0


TRAVERSALS = ["/videos/{a}/../{b}/p1/v1/seg_1.m4s", "/videos/{a}/%2e%2e/{b}/p1/v1/seg_1.m4s",
              "/videos/{a}/..%2f{b}/p1/v1/seg_1.m4s", "/videos/{a}/p1/../../{b}/p1/v1/seg_1.m4s",
              "/videos/{a}//../{b}/p1/v1/seg_1.m4s", "/videos/{a}/./../{b}/p1/v1/seg_1.m4s",
              "/videos/{a}/%2E%2E%2F{b}/p1/v1/seg_1.m4s", "/videos/{a}/p1\\..\\..\\{b}/p1/v1/seg_1.m4s"]


@pytest.mark.parametrize("template", TRAVERSALS)
def test_a_signature_for_one_title_never_reaches_another_through_dot_segments(edge, titles, template):
    a, b = titles
    path = template.format(a=a, b=b)
    status, headers, body = _get(edge, f"{path}?{_query(edge, f'/videos/{a}/')}")
    assert status in (400, 403), (path, status, body[:100])
    assert f"media of {b}".encode() not in body


def test_the_verifier_refuses_non_canonical_paths_itself(edge, titles):
    """Defence in depth: even a request that reached the verifier (another edge config) is refused."""
    import requests

    a, b = titles
    uri = f"/videos/{a}/../{b}/p1/v1/seg_1.m4s?{_query(edge, f'/videos/{a}/')}"
    r = requests.get(f"{edge.api_url}/edge/verify", headers={"X-Original-URI": uri}, timeout=10)
    assert r.status_code == 403 and r.headers["X-Edge-Deny-Reason"] == "malformed"
