"""``reload_edge`` returns once the reload is in force, on a private edge (tests/cdn/edgekit.py).

A prewarm follows every policy reload (dags/edge_policy.py). Before this wait, a connection opened right
after ``nginx -s reload`` could be accepted by an old worker that then closed it, idle, as it shut down:
the prewarm's next request on it failed with ``RemoteProtocolError`` (seen in CI, under load).
"""

from __future__ import annotations

import time
import uuid

import httpx

from edgekit import private_edge, publish, unpublish
from vodflow.cdn import edge as edge_files
from vodflow.cdn.prewarm import prewarm_title
from vodflow.cdn.signing import sign_prefix


def test_reload_returns_with_the_old_workers_closed_to_new_connections(tmp_path):
    with private_edge(tmp_path) as s:
        vid = str(uuid.uuid4())
        keys = publish(s, vid, {"p1/master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n"
                                                  b"#EXTINF:4.0,\nseg_1.m4s\n#EXT-X-ENDLIST\n",
                                "p1/seg_1.m4s": b"s" * 3000})
        try:
            master = int((edge_files.edge_dir(s) / "run" / "nginx.pid").read_text())
            q = sign_prefix(s, f"/videos/{vid}/", time.time() + 300).query
            with httpx.Client(timeout=20) as client:
                # a kept-alive connection, held by a worker of the config before the reload
                assert client.get(f"{edge_files.edge_local_url(s)}/videos/{vid}/p1/seg_1.m4s?{q}").status_code == 200
                before = edge_files._workers(master)
                assert before and all("shutting down" not in t for t in before.values())
                for _ in range(3):
                    msg = edge_files.reload_edge(s)
                    assert msg == f"edge reloaded (master pid {master})"
                    now = edge_files._workers(master)
                    assert set(now) - set(before), now                    # new workers run
                    assert all(pid not in now or "shutting down" in now[pid] for pid in before), now
                    before = {p: t for p, t in now.items() if "shutting down" not in t}
                    # the same client (its old connection closed by the edge meanwhile) warms the title
                    r = prewarm_title(s, vid, f"videos/{vid}/p1/master.m3u8", client=client)
                    assert r.requests == 2 and not r.errors, r
        finally:
            unpublish(s, keys)
