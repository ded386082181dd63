"""A rendered project served for real: uvicorn (and its worker), talked to over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests import support
from tests.variants import PACKAGE_NAME

BOOT_TIMEOUT = 30.0  # seconds until /health must answer
UV_RUN = ["uv", "run", "--no-sync"]
PASSWORD = "a long enough password"


def uvicorn_command(project: Path, port: int) -> list[str]:
    """The API as the project's Dockerfile starts it (its flags included), on ``port``;
    without a Dockerfile, as the generated README starts it."""
    dockerfile = project / "Dockerfile"
    command = ["uvicorn", f"{PACKAGE_NAME}.main:create_app", "--factory"]
    if dockerfile.exists():
        lines = dockerfile.read_text().splitlines()
        command = json.loads([line for line in lines if line.startswith("CMD ")][-1][4:])
        for flag in ("--host", "--port"):
            if flag in command:
                del command[command.index(flag) : command.index(flag) + 2]
    return [*UV_RUN, *command, "--host", "127.0.0.1", "--port", str(port)]


@dataclass
class Server:
    """A running API: ``request()`` answers ``(status, JSON body)``."""

    base: str
    log: Path

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, **body: Any
    ) -> tuple[int, Any]:
        """``exchange()``, answering the status and the JSON body (or None)."""
        status, _, raw = self.exchange(method, path, headers, **body)
        return status, json.loads(raw) if raw and raw.lstrip()[:1] in (b"{", b"[") else None

    def exchange(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
    ) -> tuple[int, Message, bytes]:
        """One request: the status, the headers and the raw body of the response."""
        all_headers = dict(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(  # noqa: S310 (our URL)
            self.base + path, data=data, headers=all_headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def status(self, path: str) -> int | None:
        try:
            return self.request("GET", path)[0]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        """Log in: the bearer header."""
        return bearer(self.tokens(email, password))

    def tokens(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in: the token pair."""
        status, body = self.request(
            "POST", "/api/v1/auth/login", form={"username": email, "password": password}
        )
        assert status == 200, (status, body, self.output())
        return dict(body)

    def register_and_login(self, email: str) -> dict[str, str]:
        user = {"email": email, "password": PASSWORD, "full_name": email.split("@")[0]}
        status, body = self.request("POST", "/api/v1/auth/register", json_body=user)
        assert status == 201, (status, body, self.output())
        return self.login(email)

    def output(self) -> str:
        return f"\n--- uvicorn output ---\n{self.log.read_text(errors='replace')}"


def bearer(tokens: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


class Mailbox:
    """What a real SMTP server (aiosmtpd, on a free port) received from a served project."""

    TOKEN = re.compile(r"[?&]token=([\w-]+)")

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        """aiosmtpd's hook for each message received."""
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 OK"

    def token_for(self, to: str, subject: str, timeout: float = 10.0) -> str:
        """The token of the link in the newest message to ``to`` whose subject has
        ``subject`` in it, once it arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.messages):
                body = message.get_body(preferencelist=("plain",))
                if message["To"] == to and subject in message["Subject"] and body is not None:
                    found = self.TOKEN.search(body.get_content())
                    assert found is not None, f"no link with a token in: {body.get_content()}"
                    return found[1]
            time.sleep(0.05)
        raise AssertionError(f"no email to {to} after {timeout} s")


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    """A mailbox, and the settings that make a project send to it."""
    port = support.free_port()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "false"}
    finally:
        controller.stop()


def start(
    command: list[str], cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    print("$", " ".join(command), flush=True)
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uv and the server end together
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process (``uv run`` forwards the signal), kill its group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    print(f"stopped (exit {process.returncode})", file=sys.stderr, flush=True)


@contextlib.contextmanager
def serve(
    project: Path,
    env: Mapping[str, str],
    worker: list[str] | None = None,
    prepare: Callable[[], object] | None = None,
) -> Iterator[Server]:
    """uvicorn (and ``worker``, a command) on ``project``, until ``/health`` answers 200.

    ``prepare`` (the prestart script, say) runs while uvicorn starts, before the worker.
    Their output goes to ``uvicorn.log`` and ``worker.log`` beside the project's folder.
    """
    port = support.free_port()
    server = Server(f"http://127.0.0.1:{port}", project.parent / "uvicorn.log")
    processes = [start(uvicorn_command(project, port), project, env, server.log)]
    try:
        if prepare is not None:
            prepare()
        if worker is not None:
            log = project.parent / "worker.log"
            processes.append(start([*UV_RUN, *worker], project, env, log))
        deadline = time.monotonic() + BOOT_TIMEOUT
        while (status := server.status("/health")) != 200:
            if processes[0].poll() is not None:
                pytest.fail(f"uvicorn exited {processes[0].returncode}{server.output()}", False)
            if time.monotonic() > deadline:
                pytest.fail(f"/health answered {status} after {BOOT_TIMEOUT} s{server.output()}")
            time.sleep(0.25)
        yield server
    finally:
        for process in reversed(processes):
            stop(process)
