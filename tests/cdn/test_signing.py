"""CloudFront-format signing and the edge's verification rules (no services needed)."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

import pytest
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vodflow.cdn import signing
from vodflow.cdn.keys import KeyConfigError
from vodflow.cdn.signing import SignatureError, sign_prefix, verify
from vodflow.settings import load

NOW = 1_900_000_000


@pytest.fixture
def s(tmp_path):
    return load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_EDGE_URL": "http://edge.test:8088"})


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def reason(s, path, q=None, now=NOW, **kw) -> str | None:
    try:
        verify(s, path, q, now, **kw)
    except SignatureError as e:
        return e.reason
    return None


def test_generated_key_is_private_and_outside_the_repo(s):
    sign_prefix(s, "/videos/a/", NOW + 60)
    key = s.home / "keys" / "cdn-signing.pem"
    assert key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in key.read_bytes()


def test_signed_query_is_a_cloudfront_custom_policy_over_the_title_prefix(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    params = {k: v[0] for k, v in parse_qs(sq.query).items()}
    assert set(params) == {"Policy", "Signature", "Key-Pair-Id"}
    assert params["Key-Pair-Id"] == "vodflow-local"
    policy = json.loads(_cf_b64decode(params["Policy"]))
    assert policy == {"Statement": [{"Resource": "http://edge.test:8088/videos/abc/*",
                                     "Condition": {"DateLessThan": {"AWS:EpochTime": NOW + 600}}}]}
    assert sq.resource == "http://edge.test:8088/videos/abc/*" and sq.expires_at == NOW + 600
    # the signature is RSA-SHA1 PKCS#1 v1.5 over the policy bytes, as CloudFront checks it
    pub = signing.keys_for(s).public_key
    pub.verify(_cf_b64decode(params["Signature"]), _cf_b64decode(params["Policy"]), padding.PKCS1v15(),
               hashes.SHA1())
    assert sq.cookies == {"CloudFront-Policy": params["Policy"], "CloudFront-Signature": params["Signature"],
                          "CloudFront-Key-Pair-Id": "vodflow-local"}
    # no characters that need escaping in a query string or cookie
    assert all(c.isalnum() or c in "-_~=&" for c in sq.query)


def test_round_trip_with_botocore_signed_url(s):
    """A URL signed by botocore directly (as any CloudFront client would) verifies at the edge."""
    key = signing.keys_for(s).private_key  # the edge's generated key, used here through botocore alone
    signer = CloudFrontSigner("vodflow-local", lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA1()))
    policy = signer.build_policy("http://edge.test:8088/videos/t1/*",
                                 datetime.fromtimestamp(NOW + 60, timezone.utc))
    url = signer.generate_presigned_url("http://edge.test:8088/videos/t1/p1/master.m3u8", policy=policy)
    assert reason(s, url.split("8088", 1)[1]) is None
    canned = signer.generate_presigned_url("http://edge.test:8088/videos/t1/p1/seg.m4s",
                                           date_less_than=datetime.fromtimestamp(NOW + 60, timezone.utc))
    assert "Expires=" in canned
    assert reason(s, canned.split("8088", 1)[1]) is None
    # a canned policy covers exactly its URL
    other = canned.split("8088", 1)[1].replace("seg.m4s", "seg2.m4s")
    assert reason(s, other) == "bad signature"


def test_one_signature_covers_every_object_under_the_prefix(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    for path in ("/videos/abc/p1/master.m3u8", "/videos/abc/p1/v720/seg_00001.m4s", "/videos/abc/p1/manifest.mpd",
                 "/videos/abc/p1/thumbs/storyboard.vtt"):
        assert reason(s, f"{path}?{sq.query}") is None
        assert reason(s, path, sq.query) is None          # query given separately
        assert reason(s, path, sq.cookies) is None        # signed cookies
    # other query parameters stay part of the URL and are covered by the trailing wildcard
    assert reason(s, f"/videos/abc/p1/seg.m4s?a=1&{sq.query}&b=2") is None


def test_wildcard_does_not_leak_to_other_titles_or_hosts(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    assert reason(s, f"/videos/abd/p1/seg.m4s?{sq.query}") == "resource mismatch"
    assert reason(s, f"/videos/abcd/p1/seg.m4s?{sq.query}") == "resource mismatch"   # prefix ends with /
    assert reason(s, f"/videos/abc?{sq.query}") == "resource mismatch"
    assert reason(s, f"/other/videos/abc/x?{sq.query}") == "resource mismatch"
    other_edge = load({"VODFLOW_HOME": str(s.home), "VODFLOW_EDGE_URL": "http://evil.test:8088"})
    assert reason(other_edge, f"/videos/abc/p1/seg.m4s?{sq.query}") == "resource mismatch"


def test_resource_pattern_semantics():
    pat = signing._resource_pattern("http://e/videos/a?c/*.m4s")
    assert pat.fullmatch("http://e/videos/abc/x/y.m4s")
    assert not pat.fullmatch("http://e/videos/abbc/x.m4s")   # ? is exactly one character
    assert not pat.fullmatch("http://e/videos/abc/x.mp4")
    assert signing._resource_pattern("http://e/a.b").fullmatch("http://e/a.b")
    assert not signing._resource_pattern("http://e/a.b").fullmatch("http://e/aXb")  # regex chars are literal


def test_expiry_and_not_before(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    path = f"/videos/abc/p1/seg.m4s?{sq.query}"
    assert reason(s, path, now=NOW + 599) is None
    assert reason(s, path, now=NOW + 600) == "expired"      # DateLessThan is exclusive
    assert reason(s, path, now=NOW + 10_000) == "expired"
    later = sign_prefix(s, "/videos/abc/", NOW + 600, not_before=NOW + 100)
    assert reason(s, f"/videos/abc/x?{later.query}", now=NOW + 50) == "not yet valid"
    assert reason(s, f"/videos/abc/x?{later.query}", now=NOW + 101) is None


def test_refusal_reasons(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    p = dict(x.split("=", 1) for x in sq.query.split("&"))
    path = "/videos/abc/p1/seg.m4s"
    assert reason(s, path) == "missing"
    assert reason(s, f"{path}?Policy={p['Policy']}&Key-Pair-Id=vodflow-local") == "missing"
    # tampered signature: still valid base64, different bytes
    sig = p["Signature"]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert reason(s, f"{path}?Policy={p['Policy']}&Signature={flipped}&Key-Pair-Id=vodflow-local") == "bad signature"
    # tampered policy: a longer expiry signed by nobody
    forged = json.loads(_cf_b64decode(p["Policy"]))
    forged["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"] = NOW + 10**6
    forged_b64 = signing._b64encode(json.dumps(forged, separators=(",", ":")).encode())
    assert reason(s, f"{path}?Policy={forged_b64}&Signature={sig}&Key-Pair-Id=vodflow-local") == "bad signature"
    assert reason(s, f"{path}?Policy=%%%&Signature={sig}&Key-Pair-Id=vodflow-local") == "malformed"
    assert reason(s, f"{path}?{sq.query.replace('vodflow-local', 'someone-else')}") == "unknown key pair"
    assert reason(s, f"{path}?Expires=abc&Signature={sig}&Key-Pair-Id=vodflow-local") == "malformed"


def test_policy_signed_by_another_key_is_refused(s):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = CloudFrontSigner("vodflow-local", lambda m: other.sign(m, padding.PKCS1v15(), hashes.SHA1()))
    policy = signer.build_policy("http://edge.test:8088/videos/abc/*", datetime.fromtimestamp(NOW + 60, timezone.utc))
    url = signer.generate_presigned_url("http://edge.test:8088/videos/abc/x.m4s", policy=policy)
    sign_prefix(s, "/videos/abc/", NOW + 60)  # make sure the edge has its own key
    assert reason(s, url.split("8088", 1)[1]) == "bad signature"


def test_query_signature_takes_precedence_over_cookies(s):
    good = sign_prefix(s, "/videos/abc/", NOW + 600)
    expired = sign_prefix(s, "/videos/abc/", NOW - 1)
    assert reason(s, f"/videos/abc/x.m4s?{expired.query}", good.cookies) == "expired"
    assert reason(s, "/videos/abc/x.m4s", {**good.cookies, "session": "zzz"}) is None


def test_ip_condition(s):
    keys = signing.keys_for(s)
    signer = CloudFrontSigner("vodflow-local", lambda m: keys.private_key.sign(m, padding.PKCS1v15(), hashes.SHA1()))
    policy = signer.build_policy("http://edge.test:8088/videos/abc/*", datetime.fromtimestamp(NOW + 60, timezone.utc),
                                 ip_address="10.1.0.0/16")
    q = signer.generate_presigned_url("http://edge.test:8088/videos/abc/x", policy=policy).split("?", 1)[1]
    assert reason(s, f"/videos/abc/x?{q}", client_ip="10.1.2.3") is None
    assert reason(s, f"/videos/abc/x?{q}", client_ip="10.2.0.1") == "ip mismatch"
    assert reason(s, f"/videos/abc/x?{q}") == "ip mismatch"


def test_verified_signatures_are_cached_but_expiry_still_applies(s):
    sq = sign_prefix(s, "/videos/abc/", NOW + 600)
    v = signing.verifier_for(s)
    v._grant.cache_clear()
    for _ in range(50):
        verify(s, f"/videos/abc/p1/seg.m4s?{sq.query}", now=NOW)
    info = v._grant.cache_info()
    assert info.misses == 1 and info.hits == 49
    assert reason(s, f"/videos/abc/p1/seg.m4s?{sq.query}", now=NOW + 601) == "expired"
    t0 = time.perf_counter()
    for _ in range(1000):
        verify(s, f"/videos/abc/p1/seg.m4s?{sq.query}", now=NOW)
    assert (time.perf_counter() - t0) / 1000 < 1e-3  # well under a millisecond per cached check


def test_configured_key_files(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = tmp_path / "priv.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    signer_s = load({"VODFLOW_HOME": str(tmp_path / "a"), "VODFLOW_CDN_PRIVATE_KEY_FILE": str(priv),
                     "VODFLOW_CDN_KEY_PAIR_ID": "K2ABC"})
    edge_s = load({"VODFLOW_HOME": str(tmp_path / "b"), "VODFLOW_CDN_PUBLIC_KEY_FILE": str(pub),
                   "VODFLOW_CDN_KEY_PAIR_ID": "K2ABC"})
    sq = sign_prefix(signer_s, "/videos/z/", NOW + 60)
    assert "Key-Pair-Id=K2ABC" in sq.query
    assert reason(edge_s, f"/videos/z/a.m4s?{sq.query}") is None
    assert not (tmp_path / "a" / "keys").exists() and not (tmp_path / "b" / "keys").exists()
    with pytest.raises(KeyConfigError, match="VODFLOW_CDN_PRIVATE_KEY_FILE"):
        sign_prefix(edge_s, "/videos/z/", NOW + 60)  # verify-only deployment cannot sign
    missing = load({"VODFLOW_HOME": str(tmp_path / "c"), "VODFLOW_CDN_PRIVATE_KEY_FILE": str(tmp_path / "nope.pem")})
    with pytest.raises(KeyConfigError, match="VODFLOW_CDN_PRIVATE_KEY_FILE"):
        sign_prefix(missing, "/videos/z/", NOW + 60)


def test_concurrent_first_use_generates_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from vodflow.cdn.keys import _generate

    path = tmp_path / "keys" / "k.pem"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _generate(path), range(4)))
    assert path.exists() and len(list(path.parent.iterdir())) == 1
    assert os.stat(path).st_mode & 0o077 == 0
