"""Start the built `scimsync emulate` in the background and read its export lines.

Used by every cross-check script: they talk to the emulators as any outside client would.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def scimsync_binary() -> Path:
    """The binary .ci/run built (SCIMSYNC_BIN overrides)."""
    given = os.environ.get("SCIMSYNC_BIN")
    path = Path(given) if given else REPO / "target" / "debug" / "scimsync"
    if not path.exists():
        raise SystemExit(f"crosscheck: {path} does not exist: build it first (cargo build --locked)")
    return path


class Emulator:
    """`scimsync emulate --listen 127.0.0.1:0 [--tls] [--directory FILE]`, as docs/emulator.md's
    "Running it in CI" does it: wait for the SCIMSYNC_SCIM_TOKEN line, then read the exports."""

    def __init__(self, tls: bool = False, directory: Path | None = None):
        self.tmp = tempfile.TemporaryDirectory(prefix="scimsync-crosscheck-")
        self.env_file = Path(self.tmp.name) / "emu.env"
        self.err_file = Path(self.tmp.name) / "emu.err"
        args = [str(scimsync_binary()), "emulate", "--listen", "127.0.0.1:0"]
        if tls:
            args += ["--tls", "--ca-file", str(Path(self.tmp.name) / "ca.pem")]
        if directory is not None:
            args += ["--directory", str(directory)]
        with open(self.env_file, "w") as out, open(self.err_file, "w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.env = self._wait_for_exports()

    def _wait_for_exports(self) -> dict[str, str]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"crosscheck: scimsync emulate exited {self.proc.returncode}:\n{self.err_file.read_text()}"
                )
            text = self.env_file.read_text()
            if "export SCIMSYNC_SCIM_TOKEN=" in text and text.endswith("\n"):
                env = {}
                for line in text.splitlines():
                    if not line.startswith("export "):
                        continue
                    name, _, value = line[len("export ") :].partition("=")
                    env[name] = shlex.split(value)[0] if value else ""
                return env
            time.sleep(0.1)
        self.stop()
        raise SystemExit("crosscheck: scimsync emulate printed no exports within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.tmp.cleanup()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
