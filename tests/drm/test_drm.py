"""DRM: content keys encrypted at rest, ClearKey packaging and the license exchange.

Real pieces only: a SQLite catalog migrated with the packaged Alembic migrations, the real
AES-GCM key store, Shaka Packager encrypting a real clip, the API app's license route called
over HTTP (Starlette's TestClient), PyJWT license tokens from vodflow.auth.tokens, and ffmpeg
decoding the encrypted segments with (and without) the key the license returned. Each test
module uses its own state directory, so master keys and titles never touch the shared stack.
"""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import stat
import threading
from pathlib import Path

import m3u8
import pytest
from fastapi.testclient import TestClient

from vodflow.catalog import Catalog
from vodflow.drm import packaging_key
from vodflow.drm.keystore import (MASTER_KEY_SETTING, DrmKeyError, KeyStore, MasterKeyError, kid_to_b64url,
                                  master_key_id)
from vodflow.drm.routes import PATH
from vodflow.media import RawKey, package_files
from vodflow.media.package import AUDIO_DIR
from vodflow.media.protection import CLEARKEY_SCHEME_URI
from vodflow.media.tools import ffmpeg_bin, run_tool
from vodflow.media.verify import decode_segments
from vodflow.settings import Settings, load

DEVICE = "device-7f3a"


def _settings(home: Path, **extra: str) -> Settings:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFLOW_")}
    env.update({"VODFLOW_HOME": str(home), "VODFLOW_CATALOG_DB_URL": f"sqlite:///{home}/catalog.db", **extra})
    return load(env)


def _b64url(hex_: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_)).rstrip(b"=").decode()


def _unb64url(s: str) -> str:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).hex()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("drm_home")
    s = _settings(home)
    cat = Catalog(s.catalog_db_url)
    # the account the license tokens are issued to (the license route checks it has not signed out)
    from authkit import make_user

    make_user(s, user_id="user-1")
    return s, cat


def _title(cat: Catalog, name: str = "DRM title") -> str:
    return cat.create_video(name, f"masters/{name}/original.mp4").id


def _rows(s: Settings) -> list[tuple]:
    path = s.catalog_db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT video_id, label, kid, key_ciphertext, master_key_id FROM content_keys").fetchall()


# ----------------------------------------------------------------------------- key store
def test_round_trip_and_the_database_holds_only_ciphertext(env):
    s, cat = env
    vid = _title(cat)
    (key,) = KeyStore(s).get_or_create(vid)
    assert re.fullmatch(r"[0-9a-f]{32}", key.key_id) and re.fullmatch(r"[0-9a-f]{32}", key.key)
    assert key.key != key.key_id and key.protection_scheme == "cenc"
    assert KeyStore(s).get(vid) == [key], "a fresh store (no cache) decrypts the same key"
    (row,) = [r for r in _rows(s) if r[0] == vid]
    _, label, kid, ciphertext, mk_id = row
    assert (label, kid) == ("", key.key_id)
    raw = bytes.fromhex(key.key)
    assert key.key not in ciphertext.lower() and key.key.upper() not in ciphertext
    body = base64.urlsafe_b64decode(ciphertext.split(".", 1)[1])
    assert raw not in body and len(body) == 12 + 16 + 16, "nonce + ciphertext + GCM tag, never the key"
    for enc in (base64.b64encode(raw).decode().rstrip("="), _b64url(key.key)):
        assert enc not in ciphertext
    master = (s.home / "keys" / "drm-master.key")
    assert mk_id == master_key_id(bytes.fromhex(master.read_text().strip()))
    assert stat.S_IMODE(master.stat().st_mode) == 0o600


def test_get_or_create_is_idempotent_and_safe_when_concurrent(env):
    s, cat = env
    vid = _title(cat, "concurrent")
    results, errors = [], []

    def create():
        try:
            results.append(KeyStore(s).get_or_create(vid))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert len([r for r in _rows(s) if r[0] == vid]) == 1
    assert packaging_key(vid, s) == results[0][0], "the ingest pipeline's rerun reuses the key"


def test_generated_master_key_is_created_once_even_by_concurrent_first_users(tmp_path):
    from vodflow.drm.keystore import load_master_key

    s = _settings(tmp_path)
    got, barrier = [], threading.Barrier(8)

    def first_use():
        barrier.wait()
        got.append(load_master_key(s)[:2])

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1
    path = tmp_path / "keys" / "drm-master.key"
    assert bytes.fromhex(path.read_text().strip()) == got[0][0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and [p.name for p in path.parent.iterdir()] == [path.name]


def test_wrong_or_malformed_master_key_is_a_clear_error(env, tmp_path):
    s, cat = env
    vid = _title(cat, "wrong master")
    KeyStore(s).get_or_create(vid)
    other = _settings(s.home, **{MASTER_KEY_SETTING: "ab" * 32})
    with pytest.raises(MasterKeyError, match=MASTER_KEY_SETTING + r" to the master key the title was packaged with"):
        KeyStore(other).get(vid)
    with pytest.raises(MasterKeyError, match="must be 32 bytes"):
        KeyStore(_settings(s.home, **{MASTER_KEY_SETTING: "too-short"})).get_or_create(vid)
    # the same key given explicitly (base64) is accepted
    mk = bytes.fromhex((s.home / "keys" / "drm-master.key").read_text().strip())
    same = _settings(s.home, **{MASTER_KEY_SETTING: base64.b64encode(mk).decode()})
    assert KeyStore(same).get(vid) == KeyStore(s).get(vid)


def test_a_ciphertext_moved_to_another_title_does_not_decrypt(env):
    s, cat = env
    a, b = _title(cat, "A"), _title(cat, "B")
    KeyStore(s).get_or_create(a)
    KeyStore(s).get_or_create(b)
    path = s.catalog_db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE content_keys SET key_ciphertext = (SELECT key_ciphertext FROM content_keys "
                     "WHERE video_id = ?) WHERE video_id = ?", (a, b))
    with pytest.raises(DrmKeyError, match="altered or copied from another title"):
        KeyStore(s).get(b)


def test_drm_mode_off_packages_in_the_clear(env):
    s, cat = env
    assert packaging_key(_title(cat, "off"), _settings(s.home, VODFLOW_DRM="off")) is None
    with pytest.raises(ValueError, match="VODFLOW_DRM"):
        packaging_key("x", _settings(s.home, VODFLOW_DRM="widevine"))


# ----------------------------------------------------------------------------- packaging + license
@pytest.fixture(scope="module")
def packaged(env, tmp_path_factory):
    """A real 6 s clip (2 s segments) encrypted with its title's key from the key store."""
    s, cat = env
    root = tmp_path_factory.mktemp("drm_pkg")
    video, audio = root / "v.mp4", root / "a.mp4"
    ff = [ffmpeg_bin(), "-nostdin", "-v", "error", "-y"]
    run_tool([*ff, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6", "-c:v", "libx264",
              "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
              str(video)], timeout=120)
    run_tool([*ff, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6", "-c:a", "aac",
              "-b:a", "64k", str(audio)], timeout=120)
    vid = _title(cat, "packaged")
    key = packaging_key(vid, s)
    pkg = package_files({"180p": video}, audio, root / "out", segment_duration=2, encryption=key)
    other = _title(cat, "other title")
    other_key = packaging_key(other, s)
    return vid, key, pkg, other, other_key


@pytest.fixture(scope="module")
def client(env):
    from vodflow.api.app import create_app

    s, _ = env
    return TestClient(create_app(s))  # no lifespan: the license route needs neither S3 nor Kafka


def _token(s: Settings, video_id: str, device: str = DEVICE, ttl_s: int = 3600) -> str:
    from vodflow.auth.tokens import issue_license_token

    return issue_license_token(s, user_id="user-1", video_id=video_id, device_id=device, ttl_s=ttl_s)


def _license(client, kids_hex, token: str | None, device: str | None = DEVICE, body=None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if device is not None:
        headers["X-Device-Id"] = device
    content = body if body is not None else ('{"kids":[%s],"type":"temporary"}'
                                             % ",".join(f'"{_b64url(k)}"' for k in kids_hex))
    return client.post(PATH, content=content, headers=headers)


def test_manifests_signal_clearkey_with_the_titles_kid(packaged):
    vid, key, pkg, *_ = packaged
    mpd = pkg.path(pkg.mpd).read_text()
    dashed = "-".join((key.key_id[:8], key.key_id[8:12], key.key_id[12:16], key.key_id[16:20], key.key_id[20:]))
    assert mpd.count(f'cenc:default_KID="{dashed}"') == 2, "video and audio adaptation sets"
    assert mpd.count(f'schemeIdUri="{CLEARKEY_SCHEME_URI}"') == 2
    assert 'schemeIdUri="urn:mpeg:dash:mp4protection:2011"' in mpd and 'value="cenc"' in mpd
    for rel in [*pkg.media_playlists.values(), *pkg.iframe_playlists.values()]:
        (k,) = m3u8.load(str(pkg.path(rel))).keys
        assert (k.method, k.keyformat) == ("SAMPLE-AES-CTR", "org.w3.clearkey"), rel
        assert base64.b64decode(k.uri.split(",", 1)[1]).hex() == key.key_id
        # (the m3u8 library drops KEYID when it re-serializes: check the file's own text)
        assert f"KEYID=0x{key.key_id}," in pkg.path(rel).read_text()
        assert key.key not in pkg.path(rel).read_text(), "the playlist carries the key id, never the key"
    (sk,) = m3u8.load(str(pkg.path(pkg.master_playlist))).session_keys
    assert sk.method == "SAMPLE-AES-CTR" and f"KEYID=0x{key.key_id}," in pkg.path(pkg.master_playlist).read_text()
    init = pkg.path("180p/init.mp4").read_bytes()
    assert b"tenc" in init and b"pssh" in init and bytes.fromhex(key.key_id) in init
    assert bytes.fromhex(key.key) not in init


def test_encrypted_package_does_not_decode_without_the_key(packaged):
    vid, key, pkg, _, other_key = packaged
    clear = decode_segments(pkg.path("180p/index.m3u8"))
    assert clear and all(s.errors for s in clear), "every segment is encrypted (no clear lead)"
    wrong = decode_segments(pkg.path("180p/index.m3u8"), decryption_key=other_key.key)
    assert all(s.errors for s in wrong), "another title's key does not decrypt it either"


def test_license_exchange_returns_the_key_that_decodes_the_segments(env, packaged, client):
    s, _ = env
    vid, key, pkg, *_ = packaged
    # the kid a player would send: the MPD's default_KID (also in the init segment's tenc box)
    kid = re.search(r'cenc:default_KID="([0-9a-f-]{36})"', pkg.path(pkg.mpd).read_text()).group(1).replace("-", "")
    r = _license(client, [kid], _token(s, vid))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["type"] == "temporary" and len(body["keys"]) == 1
    (jwk,) = body["keys"]
    assert jwk["kty"] == "oct" and jwk["kid"] == kid_to_b64url(kid) and "=" not in jwk["k"] + jwk["kid"]
    got = _unb64url(jwk["k"])
    assert got == key.key
    ok = decode_segments(pkg.path("180p/index.m3u8"), decryption_key=got)
    assert [d.frames for d in ok] == [50, 50, 50] and all(d.ok for d in ok), ok
    audio = decode_segments(pkg.path(f"{AUDIO_DIR}/index.m3u8"), decryption_key=got, video=False)
    assert audio and all(d.ok for d in audio), audio


def test_license_answers_only_that_titles_keys(env, packaged, client):
    s, _ = env
    vid, key, pkg, other, other_key = packaged
    r = _license(client, [key.key_id, "00" * 16], _token(s, vid))
    assert r.status_code == 200 and [_unb64url(k["kid"]) for k in r.json()["keys"]] == [key.key_id]
    r = _license(client, [key.key_id, other_key.key_id], _token(s, vid))
    assert r.status_code == 400 and r.json()["reason"] == "many_titles"
    r = _license(client, ["00" * 16], _token(s, vid))
    assert r.status_code == 404 and r.json()["reason"] == "unknown_kid"


@pytest.mark.parametrize("case,expected", [
    ("other_title", "other_title"), ("other_device", "other_device"), ("expired", "expired"),
    ("tampered", "bad_signature"), ("access_token", "not_a_license_token"),
])
def test_license_refused_with_a_reason(env, packaged, client, case, expected):
    from vodflow.auth.tokens import issue_access_token

    s, _ = env
    vid, key, pkg, other, _ = packaged
    device = DEVICE
    if case == "other_title":
        token = _token(s, other)
    elif case == "other_device":
        token, device = _token(s, vid), "someone-elses-device"
    elif case == "expired":
        token = _token(s, vid, ttl_s=-120)
    elif case == "tampered":
        head, payload, sig = _token(s, vid).split(".")
        token = f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    else:
        class U:
            id, role, country = "user-1", "viewer", "US"
        token = issue_access_token(s, U)
    r = _license(client, [key.key_id], token, device)
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == expected and "keys" not in r.json()
    assert key.key not in r.text and _b64url(key.key) not in r.text


@pytest.mark.parametrize("body,headers,status,reason", [
    ("not json", "ok", 400, "malformed"),
    ('{"type":"temporary"}', "ok", 400, "malformed"),
    ('{"kids":[]}', "ok", 400, "malformed"),
    ('{"kids":["AAEC"]}', "ok", 400, "malformed"),                  # 3 bytes, not a 16-byte key id
    ('{"kids":["ASNFZ4mrze8BI0VniavN7w"],"type":"persistent-license"}', "ok", 400, "malformed"),
    ('{"kids":["ASNFZ4mrze8BI0VniavN7w"]}', "no_token", 401, "no_token"),
    ('{"kids":["ASNFZ4mrze8BI0VniavN7w"]}', "no_device", 400, "no_device_id"),
])
def test_malformed_requests_are_refused(env, packaged, client, body, headers, status, reason):
    s, _ = env
    vid = packaged[0]
    token = None if headers == "no_token" else _token(s, vid)
    device = None if headers == "no_device" else DEVICE
    r = _license(client, [], token, device, body=body)
    assert r.status_code == status, r.text
    assert r.json()["reason"] == reason
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_raw_key_args_are_what_packager_needs():
    k = RawKey("0123456789ABCDEF0123456789abcdef", "00112233445566778899aabbccddeeff")
    args = k.packager_args()
    assert "--enable_raw_key_encryption" in args and args[args.index("--protection_scheme") + 1] == "cenc"
    assert args[args.index("--clear_lead") + 1] == "0"
    assert "key_id=0123456789abcdef0123456789abcdef" in args[args.index("--keys") + 1]


def test_license_refused_after_sign_out_and_for_another_title(env, packaged, client):
    """A license token of a real account: valid for its title, refused for another title's keys, and
    refused once the account signed out (POST /auth/logout), as are the access tokens of before."""
    from authkit import PASSWORD, make_user

    from vodflow.auth.tokens import issue_license_token

    s, _ = env
    vid, key, _, other, other_key = packaged
    user = make_user(s)
    access = client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()["access_token"]
    lic = issue_license_token(s, user_id=user.id, video_id=vid, device_id=DEVICE, epoch=user.token_epoch)
    assert _license(client, [key.key_id], lic).status_code == 200
    r = _license(client, [other_key.key_id], lic)
    assert r.status_code == 403 and r.json()["reason"] == "other_title"
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {access}"}).status_code == 204
    r = _license(client, [key.key_id], lic)
    assert r.status_code == 403 and r.json()["reason"] == "signed_out" and "keys" not in r.json()
    assert key.key not in r.text
