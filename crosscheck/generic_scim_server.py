"""scimsync's SCIM client, in its generic profile, against scim2-server (an independent RFC 7644
server): create, list with startIndex paging, patch, group members, delete.

Starts `scim2-server` on a free port, then runs the Rust test crates/scim/tests/generic_server.rs
against it; the test must run to its end (it prints a marker line). Exit 0 when so, 1 otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOKEN = "crosscheck-generic-token"
MARKER = "generic SCIM cross-check: create, list (startIndex paging), patch, members, delete: done"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    port = free_port()
    server_bin = Path(sys.executable).parent / "scim2-server"
    server = subprocess.Popen(
        [str(server_bin), "--port", str(port), "--bearer-token", TOKEN, "--tenant", "crosscheck"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                print(f"FAIL: scim2-server exited {server.returncode}: {server.stderr.read().decode()}")
                return 1
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print("FAIL: scim2-server did not listen within 30 s")
                    return 1
                time.sleep(0.1)
        env = dict(os.environ)
        env["SCIMSYNC_GENERIC_SCIM_URL"] = f"http://127.0.0.1:{port}/crosscheck/"
        env["SCIMSYNC_GENERIC_SCIM_TOKEN"] = TOKEN
        run = subprocess.run(
            ["cargo", "test", "--locked", "-q", "-p", "scimsync-scim", "--test", "generic_server", "--", "--nocapture"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        output = run.stdout + run.stderr
        ok = run.returncode == 0 and MARKER in output
        print(output.strip()[-3000:])
        print(f"scimsync generic SCIM client against scim2-server: {1 if ok else 0} passed, {0 if ok else 1} failed")
        return 0 if ok else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
