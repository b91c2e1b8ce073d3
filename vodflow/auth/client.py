"""How command-line clients (upload, demo, events simulate) get an access token.

In order: the token given (``--token``), ``VODFLOW_API_TOKEN``, else a login at
``POST {api}/auth/login`` as ``VODFLOW_ADMIN_EMAIL`` / ``VODFLOW_ADMIN_PASSWORD`` (the admin that
``vodflow up`` creates). ``vodflow users token EMAIL`` prints a token for scripts.
"""

from __future__ import annotations

from vodflow.settings import Settings, get_settings


class ApiAuthError(RuntimeError):
    """No token could be obtained; the message says why and what to do."""


def login(api_url: str, email: str, password: str, *, timeout: float = 30.0) -> str:
    """An access token from ``POST {api_url}/auth/login``."""
    import httpx

    url = api_url.rstrip("/") + "/auth/login"
    try:
        r = httpx.post(url, json={"email": email, "password": password}, timeout=timeout)
    except httpx.HTTPError as e:
        raise ApiAuthError(f"cannot log in: the vodflow API is not reachable at {api_url} ({type(e).__name__}: {e}); "
                           "start it with `vodflow up` or `vodflow api`") from e
    if r.status_code == 200:
        return r.json()["access_token"]
    if r.status_code == 404:
        raise ApiAuthError(f"the API at {api_url} has no POST /auth/login: it runs code from before accounts "
                           "were added; restart the API (stop its process; `vodflow up` starts it again)")
    if r.status_code == 401:
        raise ApiAuthError(f"logging in as {email} at {url} failed: wrong email or password. Set "
                           "VODFLOW_ADMIN_EMAIL / VODFLOW_ADMIN_PASSWORD to an admin account (`vodflow up` "
                           "creates one), or pass --token / set VODFLOW_API_TOKEN (`vodflow users token EMAIL`)")
    if r.status_code == 429:
        raise ApiAuthError(f"logging in as {email} at {url} is refused for {r.headers.get('Retry-After', '?')} s: "
                           "too many failed logins (VODFLOW_LOGIN_RATE_LIMIT); fix the password and wait")
    raise ApiAuthError(f"logging in at {url} failed: HTTP {r.status_code} {r.text[:300]}")


def api_token(api_url: str, token: str | None = None, settings: Settings | None = None) -> str:
    """The token to send to ``api_url``: ``token``, else ``VODFLOW_API_TOKEN``, else an admin login."""
    if token:
        return token
    s = settings or get_settings()
    if s["VODFLOW_API_TOKEN"]:
        return s["VODFLOW_API_TOKEN"]
    return login(api_url, s.admin_email, s.admin_password)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
