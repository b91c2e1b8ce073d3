"""ClearKey signalling in the manifests of a CENC-encrypted package (what Shaka Packager leaves out).

Shaka Packager 3.x with ``--enable_raw_key_encryption`` (no ``--protection_systems``) writes:

* in every init segment a ``tenc`` box (default KID) and a v1 *common* PSSH box
  (system id ``1077efec-c0b2-4d02-ace3-3c1e52e2fb4b``, the W3C "cenc" init data that the ClearKey
  CDM reads key ids from);
* in the MPD, per AdaptationSet, ``urn:mpeg:dash:mp4protection:2011`` (value ``cenc``,
  ``cenc:default_KID``) and a ``urn:uuid:1077efec-...`` element carrying that PSSH;
* in the HLS playlists **nothing**: it logs "Skipping KEYFORMAT="identity" for CENC content" and
  writes an ``EXT-X-KEY`` only for DRM systems it knows (Widevine, PlayReady, FairPlay).
  ``--protection_systems`` accepts Widevine, PlayReady, FairPlay, Marlin and CommonSystem -- there
  is no ClearKey, and CommonSystem adds no HLS tag either.

So after packaging we add, without touching segments:

* MPD: the DASH-IF ClearKey element ``urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e``
  (``value="ClearKey1.0"``) after the common one, with the same ``cenc:pssh``; no license URL
  in it (the URL and the token come from ``/play``, the manifests are cached by the edge).
* HLS: ``#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,KEYFORMAT="org.w3.clearkey",KEYID=0x...,
  URI="data:text/plain;base64,<kid>"`` in every media and I-frame playlist (before ``EXT-X-MAP``)
  and the same as ``#EXT-X-SESSION-KEY`` in the multivariant playlist. That is the form hls.js
  (``emeEnabled`` + ``drmSystems['org.w3.clearkey']``) maps to the ClearKey CDM; the data URI
  holds the key *id*, never the key.
"""

from __future__ import annotations

import base64
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable

COMMON_SYSTEM_ID = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"
CLEARKEY_SCHEME_URI = f"urn:uuid:{CLEARKEY_SYSTEM_ID}"
MP4PROTECTION_URI = "urn:mpeg:dash:mp4protection:2011"
HLS_KEYFORMAT = "org.w3.clearkey"

_COMMON_CP = re.compile(
    r'(?P<indent>[ \t]*)<ContentProtection\b[^>]*schemeIdUri="urn:uuid:' + COMMON_SYSTEM_ID
    + r'"[^>]*>\s*<cenc:pssh>(?P<pssh>[A-Za-z0-9+/=]+)</cenc:pssh>\s*</ContentProtection>', re.I)
_MP4_CP = re.compile(r'(?P<indent>[ \t]*)<ContentProtection\b[^>]*schemeIdUri="' + re.escape(MP4PROTECTION_URI)
                     + r'"[^>]*/>')


def hls_key_attributes(kid_hex: str, method: str = "SAMPLE-AES-CTR") -> str:
    """Attribute list of the ClearKey ``EXT-X-KEY`` / ``EXT-X-SESSION-KEY`` for a key id."""
    kid = kid_hex.lower()
    uri = "data:text/plain;base64," + base64.b64encode(bytes.fromhex(kid)).decode()
    return f'METHOD={method},URI="{uri}",KEYID=0x{kid},KEYFORMAT="{HLS_KEYFORMAT}",KEYFORMATVERSIONS="1"'


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def add_clearkey_to_mpd(mpd_path: Path) -> int:
    """Add the ClearKey ContentProtection to every protected AdaptationSet. Returns how many were added."""
    text = mpd_path.read_text()
    if CLEARKEY_SCHEME_URI in text:
        return 0

    def after_common(m: re.Match) -> str:
        ind = m.group("indent")
        return (m.group(0) + f'\n{ind}<ContentProtection schemeIdUri="{CLEARKEY_SCHEME_URI}" value="ClearKey1.0">'
                f'\n{ind}  <cenc:pssh>{m.group("pssh")}</cenc:pssh>\n{ind}</ContentProtection>')

    new, n = _COMMON_CP.subn(after_common, text)
    if n == 0:  # no common PSSH element (other --protection_systems): signal ClearKey after mp4protection
        new, n = _MP4_CP.subn(lambda m: m.group(0) + f'\n{m.group("indent")}<ContentProtection '
                              f'schemeIdUri="{CLEARKEY_SCHEME_URI}" value="ClearKey1.0"/>', text)
    if n == 0:
        raise ValueError(f"{mpd_path}: no ContentProtection written by the packager -- is the package encrypted?")
    ET.fromstring(new.encode())  # still well-formed XML
    _write(mpd_path, new)
    return n


def add_key_to_media_playlist(playlist_path: Path, kid_hex: str) -> bool:
    """Insert the ClearKey ``EXT-X-KEY`` before the first ``EXT-X-MAP``. False if a key tag is already there."""
    lines = playlist_path.read_text().splitlines()
    if any(line.startswith("#EXT-X-KEY:") for line in lines):
        return False
    tag = "#EXT-X-KEY:" + hls_key_attributes(kid_hex)
    idx = next((i for i, line in enumerate(lines) if line.startswith(("#EXT-X-MAP", "#EXTINF"))), None)
    if idx is None:
        raise ValueError(f"{playlist_path}: no EXT-X-MAP or segment to put the key tag before")
    lines.insert(idx, tag)
    _write(playlist_path, "\n".join(lines) + "\n")
    return True


def add_session_key_to_master(master_path: Path, kid_hex: str) -> bool:
    lines = master_path.read_text().splitlines()
    if any(line.startswith("#EXT-X-SESSION-KEY:") for line in lines):
        return False
    tag = "#EXT-X-SESSION-KEY:" + hls_key_attributes(kid_hex)
    idx = next((i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-INDEPENDENT-SEGMENTS")), None)
    if idx is None:
        idx = 1 if lines and lines[0].startswith("#EXTM3U") else 0
    lines.insert(idx, tag)
    _write(master_path, "\n".join(lines) + "\n")
    return True


def signal_clearkey(out_dir: Path, kid_hex: str, *, mpd: str, master: str, playlists: Iterable[str]) -> None:
    """Add the ClearKey signalling to a package made with a raw key (paths relative to ``out_dir``)."""
    out = Path(out_dir)
    add_clearkey_to_mpd(out / mpd)
    for rel in playlists:
        add_key_to_media_playlist(out / rel, kid_hex)
    add_session_key_to_master(out / master, kid_hex)


__all__ = ["CLEARKEY_SCHEME_URI", "CLEARKEY_SYSTEM_ID", "COMMON_SYSTEM_ID", "HLS_KEYFORMAT", "add_clearkey_to_mpd",
           "add_key_to_media_playlist", "add_session_key_to_master", "hls_key_attributes", "signal_clearkey"]
