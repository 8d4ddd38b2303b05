"""Run the app on uvicorn: bind the port first (a busy port fails before the model loads), then serve."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass

from mnist_cnn.errors import MnistCnnError, UsageError
from mnist_cnn.interrupts import Interrupted, raising_on_signals
from mnist_cnn.serve.app import Limits, create_app
from mnist_cnn.serve.model import ServedModel, load_served

ENV = "MNIST_CNN_SERVE"  # how worker processes learn what to load (uvicorn spawns them from an import string)
BACKLOG = 2048  # uvicorn's default
SHUTDOWN_SECONDS = 5  # in-flight requests get this long after Ctrl-C / SIGTERM


@dataclass(frozen=True)
class Target:
    """What to serve: arguments of `load_served`, and the per-request limits."""

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

    served = load_served(target.model, target.runs_dir, target.checkpoint)  # errors surface here, once
    options = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": SHUTDOWN_SECONDS}
    sock.listen(BACKLOG)  # before announcing: connections made now wait in the queue instead of being refused
    with raising_on_signals():  # uvicorn re-raises the signal that stopped it: that ends the command cleanly
        try:
            if workers == 1:
                server = uvicorn.Server(uvicorn.Config(create_app(served, target.limits), **options))
                announce(served)
                server.run(sockets=[sock])
            else:
                from uvicorn.supervisors import Multiprocess

                os.environ[ENV] = json.dumps(asdict(target))
                config = uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
                announce(served)
                Multiprocess(config, sockets=[sock]).run()
        except Interrupted:
            pass


def app_from_env():
    """The app for a worker process, built from what the parent put in the environment."""
    spec = json.loads(os.environ[ENV])
    target = Target(**{**spec, "limits": Limits(**spec["limits"])})
    return create_app(load_served(target.model, target.runs_dir, target.checkpoint), target.limits)
