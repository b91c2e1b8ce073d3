"""The RSA key pair that signs and verifies edge URLs (CloudFront's signed-URL key).

From settings: ``VODFLOW_CDN_PRIVATE_KEY_FILE`` / ``VODFLOW_CDN_PUBLIC_KEY_FILE`` (PEM). When the
private key file is unset, one is generated once into ``$VODFLOW_HOME/keys/cdn-signing.pem`` (mode 0600,
never in the repo) by `vodflow up` or the first signer; the public key is derived from it unless a public key
file is given (a verify-only deployment only needs the public key).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vodflow.settings import Settings

KEY_BITS = 2048
_lock = threading.Lock()


class KeyConfigError(RuntimeError):
    """The signing key is missing or unreadable; the message names the setting to fix."""


@dataclass(frozen=True)
class CdnKeys:
    key_pair_id: str
    public_key: rsa.RSAPublicKey
    private_key: rsa.RSAPrivateKey | None


def default_private_key_path(s: Settings) -> Path:
    return s.home / "keys" / "cdn-signing.pem"


def _generate(path: Path) -> None:
    """Write a new private key to ``path`` (0600) unless another process won the race."""
    from vodflow.secret_files import create_once

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    create_once(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))


def ensure_keys(s: Settings) -> Path | None:
    """Create the default signing key if no key file is configured; return the private key path used."""
    if s["VODFLOW_CDN_PRIVATE_KEY_FILE"]:
        return Path(s["VODFLOW_CDN_PRIVATE_KEY_FILE"])
    if s["VODFLOW_CDN_PUBLIC_KEY_FILE"]:
        return None  # verify-only: the signer runs elsewhere
    path = default_private_key_path(s)
    with _lock:
        if not path.exists():
            _generate(path)
    return path


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyConfigError(f"cannot read the edge URL-signing key {path} ({e.strerror}); fix {setting} "
                             "or leave it empty to use a generated key") from None


def load_keys(s: Settings) -> CdnKeys:
    priv_path = ensure_keys(s)
    private = None
    if priv_path is not None:
        try:
            private = serialization.load_pem_private_key(_read(priv_path, "VODFLOW_CDN_PRIVATE_KEY_FILE"), None)
        except (ValueError, TypeError) as e:
            raise KeyConfigError(f"{priv_path} is not an unencrypted PEM private key ({e}); "
                                 "fix VODFLOW_CDN_PRIVATE_KEY_FILE") from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise KeyConfigError(f"{priv_path} is not an RSA key (CloudFront signs with RSA); "
                                 "fix VODFLOW_CDN_PRIVATE_KEY_FILE")
    pub_file = s["VODFLOW_CDN_PUBLIC_KEY_FILE"]
    if pub_file:
        try:
            public = serialization.load_pem_public_key(_read(Path(pub_file), "VODFLOW_CDN_PUBLIC_KEY_FILE"))
        except ValueError as e:
            raise KeyConfigError(f"{pub_file} is not a PEM public key ({e}); fix VODFLOW_CDN_PUBLIC_KEY_FILE") \
                from None
        if not isinstance(public, rsa.RSAPublicKey):
            raise KeyConfigError(f"{pub_file} is not an RSA public key; fix VODFLOW_CDN_PUBLIC_KEY_FILE")
    else:
        assert private is not None
        public = private.public_key()
    return CdnKeys(s["VODFLOW_CDN_KEY_PAIR_ID"], public, private)
