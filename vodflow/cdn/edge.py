"""Files of the local edge: the nginx configuration rendered from settings.

Everything lives under ``$VODFLOW_HOME/edge/``: ``conf/nginx.conf`` (rendered from
``nginx.conf.template`` at every start), ``run/`` (pid, origin tap socket), ``tmp/``, ``cache/media``,
``cache/auth``, ``policy/titles.map`` (the edge policy
nginx reads: vodflow/cdn/policy.py; created as "every title popular" when missing) and
``logs/access.log`` (every client request with its cache status) and ``logs/origin.log`` (every request
that reached the origin).

Origin access. nginx-light cannot sign SigV4 requests, and S3Proxy serves anonymous reads only of objects
with a public-read ACL (which publish does not set, and AWS buckets with ACLs disabled refuse). The
local stack therefore runs an *origin gateway*: a second S3Proxy, read-only, without authentication,
bound to loopback, whose filesystem root holds only a link to the origin bucket's directory. Only the
edge is meant to reach it: it is the local stand-in for CloudFront Origin Access Control (the bucket stays
private; only the CDN may read it). The main S3 endpoint keeps requiring credentials. This module says
where the gateway listens (:func:`origin_hostport`, :func:`runs_local_gateway`); the stack writes its
S3Proxy configuration and runs it (:mod:`vodflow.stack.s3proxy`).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from vodflow.settings import Settings

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
POLICY_WATCH_S = 15   # how often docker/compose.yaml's edge container looks for a newer policy map
RELOAD_WAIT_S = 30.0  # how long reload_edge waits for the new workers to take over
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class EdgeConfigError(RuntimeError):
    pass


def edge_dir(s: Settings) -> Path:
    return s.home / "edge"


def access_log(s: Settings) -> Path:
    return edge_dir(s) / "logs" / "access.log"


def origin_log(s: Settings) -> Path:
    return edge_dir(s) / "logs" / "origin.log"


def edge_port(s: Settings) -> int:
    return int(s["VODFLOW_EDGE_PORT"])


def edge_local_url(s: Settings) -> str:
    """Where the edge answers from this host (VODFLOW_EDGE_URL is the public name, usually the same):
    ``VODFLOW_EDGE_INTERNAL_URL`` when set (another container), else the local nginx."""
    return (s["VODFLOW_EDGE_INTERNAL_URL"] or f"http://{s.bind_host}:{edge_port(s)}").rstrip("/")


def _hostport(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    if not u.hostname:
        raise EdgeConfigError(f"{url!r} is not a URL with a host")
    return u.hostname, u.port or (443 if u.scheme == "https" else 80)


def origin_hostport(s: Settings) -> tuple[str, int]:
    return _hostport(s["VODFLOW_EDGE_ORIGIN_URL"])


def runs_local_gateway(s: Settings) -> bool:
    """The origin gateway runs when the edge's origin is a local port other than the S3 endpoint's."""
    host, port = origin_hostport(s)
    s3_local = bool(s.s3_endpoint) and _hostport(s.s3_endpoint)[0] in LOCAL_HOSTS | {s.bind_host}
    return host in LOCAL_HOSTS | {s.bind_host} and s3_local and port != s.s3_port


def find_nginx() -> str | None:
    """The nginx binary on PATH (or Debian's /usr/sbin/nginx, off a non-root PATH); None if absent."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_binary() -> str:
    found = find_nginx()
    if not found:
        raise EdgeConfigError("nginx is not installed: run scripts/system-deps.sh (Debian package nginx-light), "
                              "or set VODFLOW_EDGE=off to run without the edge")
    return found


def _cors(s: Settings) -> tuple[str, str]:
    origins = [o.strip().rstrip("/") for o in s["VODFLOW_EDGE_CORS_ORIGINS"].split(",") if o.strip()]
    if not origins or origins == ["*"]:
        return '        default "*";', ""
    if "*" in origins:
        raise EdgeConfigError("VODFLOW_EDGE_CORS_ORIGINS: use either * alone or a list of origins")
    lines = ['        default "";']
    for o in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", o):
            raise EdgeConfigError(f"VODFLOW_EDGE_CORS_ORIGINS: {o!r} is not an origin like https://player.example")
        lines.append(f'        "{o}" $http_origin;')
    return "\n".join(lines), '                add_header Access-Control-Allow-Credentials "true" always;'


def greater_than_re(n: int) -> str:
    """A regex matching exactly the decimal integers greater than ``n`` (no leading zeros): nginx
    cannot compare numbers, so the edge tells "the origin's max-age is longer than the tail TTL" by a
    pattern. E.g. 600 -> ``(?:[1-9][0-9]{3,}|[7-9][0-9]{2}|6[1-9][0-9]{1}|60[1-9][0-9]{0})``."""
    digits = str(n)
    alts = [f"[1-9][0-9]{{{len(digits)},}}"]             # more digits than n
    for i, c in enumerate(digits):                        # same length: greater at position i
        if c != "9":
            alts.append(f"{digits[:i]}[{int(c) + 1}-9][0-9]{{{len(digits) - i - 1}}}")
    return "(?:" + "|".join(alts) + ")"


def render_nginx_conf(s: Settings) -> Path:
    """Write ``$VODFLOW_HOME/edge/conf/nginx.conf`` and create the directories it names."""
    d = edge_dir(s)
    for sub in ("conf", "run", "logs", "cache/media", "cache/auth", "policy", "tmp/client_body", "tmp/proxy",
                "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "run" / "origin.sock").unlink(missing_ok=True)  # left over by a killed nginx
    from vodflow.cdn.policy import ensure_policy_file

    ensure_policy_file(s)
    api_host, api_port = _hostport(s.api_url)
    o_host, o_port = origin_hostport(s)
    cors_map, cors_cred = _cors(s)
    user_line = ""
    if os.geteuid() == 0:  # root master: keep the workers as the same user (they write under VODFLOW_HOME)
        import grp
        import pwd

        user_line = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    bind = s.bind_host
    listen = f"[{bind}]:{edge_port(s)}" if ":" in bind else f"{bind}:{edge_port(s)}"
    values = {
        "USER_LINE": user_line,
        "WORKERS": str(min(4, os.cpu_count() or 1)),
        "EDGE_DIR": str(d),
        "CACHE_SIZE": s["VODFLOW_EDGE_CACHE_SIZE"],
        "TAIL_TTL": str(int(s["VODFLOW_EDGE_TAIL_TTL"])),
        "LONGER_THAN_TAIL_RE": greater_than_re(int(s["VODFLOW_EDGE_TAIL_TTL"])),
        "API_HOSTPORT": f"{api_host}:{api_port}",
        "ORIGIN_HOSTPORT": f"{o_host}:{o_port}",
        "LISTEN": listen,
        "BUCKET": s.bucket_origin,
        "CORS_MAP": cors_map,
        "CORS_CREDENTIALS": cors_cred,
    }
    text = TEMPLATE.read_text()
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise EdgeConfigError(f"unfilled placeholders in {TEMPLATE}: {sorted(set(left))}")
    conf = d / "conf" / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx_argv(s: Settings) -> list[str]:
    d = edge_dir(s)
    return [nginx_binary(), "-p", str(d), "-e", "stderr", "-c", str(d / "conf" / "nginx.conf")]


def check_nginx_conf(s: Settings) -> None:
    """``nginx -t`` the rendered configuration; raise with nginx's message if it is invalid."""
    import subprocess

    r = subprocess.run([*nginx_argv(s), "-t"], capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgeConfigError(f"the rendered edge config {edge_dir(s) / 'conf' / 'nginx.conf'} is invalid:\n"
                              f"{r.stderr.strip()}")


def _workers(master_pid: int) -> dict[int, str]:
    """The master's worker processes: pid -> title ("nginx: worker process [is shutting down]")."""
    import psutil

    out = {}
    for p in psutil.Process(master_pid).children():
        try:
            title = " ".join(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "worker process" in title:
            out[p.pid] = title
    return out


def wait_for_reload(master_pid: int, old: set[int], timeout_s: float = RELOAD_WAIT_S) -> bool:
    """True once the reload is in force: a new worker runs and every worker of before ``old`` is gone or
    shutting down - nginx retitles it as it closes its listening sockets and idle keep-alive connections,
    so a connection opened after this goes to a worker on the new config."""
    import time

    import psutil

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            now = _workers(master_pid)
        except psutil.NoSuchProcess:
            return False
        if set(now) - old and all(pid not in now or "shutting down" in now[pid] for pid in old):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def reload_edge(s: Settings) -> str:
    """``nginx -s reload`` of the running edge of ``s`` (config test first), returned once the new
    config is in force (:func:`wait_for_reload`); a plain message of what happened.

    Waiting matters to what follows a reload: a prewarm right after it would otherwise open a connection
    that an old worker accepts and then drops while shutting down (``RemoteProtocolError`` in the
    client), or cache objects under the old policy's lifetimes."""
    import subprocess

    import psutil

    from vodflow.cdn.policy import EdgePolicyError

    pid = edge_dir(s) / "run" / "nginx.pid"
    if not pid.exists():
        return "no edge running here: the policy applies when the edge starts"
    if not find_nginx():   # the edge's directory is shared with an edge container (docker/compose.yaml)
        return (f"policy written to the edge's shared directory; the edge container reloads within "
                f"{POLICY_WATCH_S} s of a change")
    test = subprocess.run([*nginx_argv(s), "-t"], capture_output=True, text=True, timeout=60)
    if test.returncode != 0:
        raise EdgePolicyError(f"the edge config with the new policy is invalid, not reloaded:\n{test.stderr.strip()}")
    master = int(pid.read_text().strip())
    try:
        old = set(_workers(master))
    except psutil.NoSuchProcess:
        return f"the edge's pid file names no running nginx ({pid}): the policy applies when the edge starts"
    r = subprocess.run([*nginx_argv(s), "-s", "reload"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise EdgePolicyError(f"nginx -s reload failed: {r.stderr.strip()}")
    if not wait_for_reload(master, old):
        raise EdgePolicyError(f"nginx (master pid {master}) did not take the new config within {RELOAD_WAIT_S:.0f} s;"
                              f" its reason is in the edge's log ($VODFLOW_HOME/logs/edge.log)")
    return f"edge reloaded (master pid {master})"


def main() -> None:
    """``python -m vodflow.cdn.edge``: render the nginx config from the VODFLOW_* settings and print its path
    (the compose deployment renders it into a volume the nginx container reads)."""
    from vodflow.settings import get_settings

    print(render_nginx_conf(get_settings()))


if __name__ == "__main__":
    main()
