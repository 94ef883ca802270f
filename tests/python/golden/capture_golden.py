"""Capture four-letter-word output from a real Apache ZooKeeper 3.8 server.

    .venv/bin/python tests/python/golden/capture_golden.py

Starts a private ZooKeeper (Debian package) on a free 127.0.0.1 port, puts it
in a known state (two sessions, ephemerals, watches of every kind), and writes
each word's reply verbatim to tests/python/golden/<word>.txt, plus
state.txt describing the state.  These files are reference material for the
paddock implementers; tests/python/test_4lw.py checks the essentials.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kazoo.client import KazooClient  # noqa: E402

import zkservers  # noqa: E402

WORDS = ["ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp",
         "dump", "isro", "dirs", "gtmk"]


def main():
    srv = zkservers.ZooKeeperServer()
    srv.start()
    a = KazooClient(srv.connect)
    b = KazooClient(srv.connect)
    try:
        a.start()
        b.start()
        a.create("/app/config", b"v1", makepath=True)
        a.create("/app/members/m-", b"", ephemeral=True, sequence=True, makepath=True)
        a.create("/app/members/m-", b"", ephemeral=True, sequence=True)
        b.create("/app/members/b", b"", ephemeral=True)
        b.get("/app/config", watch=lambda e: None)
        b.exists("/app/missing", watch=lambda e: None)
        b.get_children("/app/members", watch=lambda e: None)
        a.get("/app/config", watch=lambda e: None)
        state = [
            f"server: Apache ZooKeeper 3.8 (Debian package) standalone at {srv.connect}",
            f"session A: 0x{a.client_id[0]:x} (2 ephemerals under /app/members, "
            "1 data watch on /app/config)",
            f"session B: 0x{b.client_id[0]:x} (ephemeral /app/members/b, data watch "
            "/app/config, exists watch /app/missing, child watch /app/members)",
            "each reply was read from a new TCP connection that sent only the four "
            "bytes of the word; that connection shows up in stat/cons/dump",
        ]
        (HERE / "state.txt").write_text("\n".join(state) + "\n")
        for w in WORDS:
            out = srv.four_letter(w)
            (HERE / f"{w}.txt").write_text(out)
            print(f"== {w}: {len(out)} bytes")
    finally:
        for c in (a, b):
            c.stop()
            c.close()
        srv.destroy()


if __name__ == "__main__":
    main()
