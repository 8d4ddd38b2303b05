"""Run the app on uvicorn: bind the port first (a busy port fails before the model loads), then serve."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mnist_cnn.errors import MnistCnnError, UsageError, first_line
from mnist_cnn.interrupts import Interrupted, raising_on_signals
from mnist_cnn.serve.app import Limits, create_app
from mnist_cnn.serve.model import ServedModel, VerifiedCopy, load_copy, verified_copy

ENV = "MNIST_CNN_SERVE"  # how worker processes learn what to load (uvicorn spawns them from an import string)
BACKLOG = 2048  # uvicorn's default
SHUTDOWN_SECONDS = 5  # in-flight requests get this long after Ctrl-C / SIGTERM


@dataclass(frozen=True)
class Target:
    """What to serve: model, runs dir and checkpoint as `serve` takes them, and the per-request limits."""

    model: str | None
    runs_dir: str
    checkpoint: str | None
    limits: Limits


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket, or one line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: cannot resolve this address ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MnistCnnError(f"port {port} on {host} is already in use; stop that server or pass --port N") from None
        raise MnistCnnError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """http://host:port for a bound socket (the real port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    target: Target,
    sock: socket.socket,
    workers: int = 1,
    announce: Callable[[ServedModel], None] = lambda _: None,
) -> None:
    """Load the model, announce it, serve until Ctrl-C or SIGTERM, then return after a clean shutdown."""
    import uvicorn

    options = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": SHUTDOWN_SECONDS}
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-serve-") as private:
        # Verified once, here; errors surface before anything listens. Every worker loads these bytes.
        copy = verified_copy(target.model, target.runs_dir, target.checkpoint, Path(private))
        served = load_copy(copy)
        sock.listen(BACKLOG)  # before announcing: connections made now wait in the queue instead of being refused
        with raising_on_signals():  # uvicorn re-raises the signal that stopped it: that ends the command cleanly
            try:
                if workers == 1:
                    server = uvicorn.Server(uvicorn.Config(create_app(served, target.limits), **options))
                    announce(served)
                    server.run(sockets=[sock])
                else:
                    from uvicorn.supervisors import Multiprocess

                    spec = {"copy": {**asdict(copy), "path": str(copy.path)}, "limits": asdict(target.limits)}
                    os.environ[ENV] = json.dumps(spec)
                    config = uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
                    announce(served)
                    Multiprocess(config, sockets=[sock]).run()
            except Interrupted:
                pass
        failed = _worker_error_file(private)
        if failed.is_file():
            raise MnistCnnError(failed.read_text(encoding="utf-8", errors="replace")[:500].strip())


def _worker_error_file(private: str | Path) -> Path:
    """Where a worker that cannot load the verified copy leaves its one line for the parent."""
    return Path(private) / "worker-error.txt"


def app_from_env():
    """The app for a worker process: the verified copy the parent made (never the original file).

    If even that cannot be loaded (the private copy was removed or altered), restarting would fail
    the same way forever: the worker records one line for the parent and stops the whole server.
    """
    spec = json.loads(os.environ[ENV])
    copy = VerifiedCopy(**{**spec["copy"], "path": Path(spec["copy"]["path"])})
    try:
        served = load_copy(copy)
    except MnistCnnError as exc:
        line = f"a server worker could not load the model verified at start ({first_line(exc)}); server stopped"
        _worker_error_file(copy.path.parent).write_text(line + "\n", encoding="utf-8")
        os.kill(os.getppid(), signal.SIGTERM)
        raise SystemExit(1) from None
    return create_app(served, Limits(**spec["limits"]))
