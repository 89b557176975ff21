"""Start real servers on loopback for tests (Chroma, Streamlit, fake LLM) and stop them reliably."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
NETGUARD = REPO / "tests" / "support" / "netguard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guarded_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that may only talk to loopback."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def wait_for_http(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last_error = exc
        time.sleep(0.1)  # between polls of the readiness URL
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last_error})")


class ServerProcess:
    def __init__(self, args: Sequence[str], ready_url: str, env: dict[str, str] | None = None,
                 log_path: Path | None = None, cwd: Path | None = None, timeout: float = 60.0) -> None:
        self.log_path = log_path
        log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(list(args), env=env or guarded_env(), stdout=log, stderr=subprocess.STDOUT,
                                        cwd=str(cwd or REPO), start_new_session=True)
        try:
            wait_for_http(ready_url, timeout, self.process)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_chroma_server(path: Path, log_path: Path | None = None) -> tuple[ServerProcess, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ServerProcess([venv_bin("chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                           f"{url}/api/v2/heartbeat", log_path=log_path)
    return server, url
