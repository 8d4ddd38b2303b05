"""Load-test `mnist-cnn serve` over loopback: start-up, req/s, p50/p99 latency, memory across the run.

Starts the real command in a child process (`python -m mnist_cnn.cli serve MODEL --port 0`), times
the command to its first answer, then sends N requests from C concurrent clients (threads, each
with its own keep-alive connection) of three kinds: "canvas" (JSON with a 28×28 MNIST test digit),
"photo" (a PNG upload of the sample photos) and "canvas-explain" (the canvas body sent to
/v1/explain: the answer plus saliency and every conv/pooling layer's feature maps). The server's
resident memory (all its processes) is sampled every 500 requests. The client runs on the same machine
and competes for its cores.

    python scripts/bench_serve.py /tmp/runs/chollet-… --requests 5000 --clients 16 --workers 1 2
    python scripts/bench_serve.py /tmp/runs/chollet-… --kinds canvas canvas-explain --clients 1 --requests 1000
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
START_TIMEOUT = 120  # seconds: a server that never answers ends the benchmark instead of hanging it


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far: less sensitive than wall time to other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(model: str, workers: int) -> tuple[subprocess.Popen, int, float]:
    """The server process, its port, and seconds from the command to its first /healthz answer."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    begun = time.perf_counter()
    cmd = [sys.executable, "-m", "mnist_cnn.cli", "serve", model, "--port", "0", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("Serving "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    port = int(line.split(" at ")[1].split()[0].rsplit(":", 1)[1])
    while True:
        if proc.poll() is not None or time.perf_counter() - begun > START_TIMEOUT:
            proc.kill()
            raise SystemExit(f"server exited or gave no answer within {START_TIMEOUT} s")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port, time.perf_counter() - begun
        except OSError:
            time.sleep(0.005)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def canvas_bodies(count: int = 200) -> list[tuple[bytes, str]]:
    """JSON bodies with 28×28 MNIST test digits (what a canvas client would send)."""
    from mnist_cnn.data.acquire import load_mnist

    images = load_mnist(allow_download=False, log=lambda _: None).x_test[:count]
    bodies = []
    for image in np.asarray(images).reshape(-1, 28, 28):
        pixels = (np.asarray(image, np.float32) / 255.0).round(4).tolist()
        bodies.append((json.dumps({"images": [{"pixels": pixels}]}).encode(), "application/json"))
    return bodies


def photo_bodies() -> list[tuple[bytes, str]]:
    """Multipart bodies, one per sample photo as PNG (PNGs as they are, the others re-encoded)."""
    bodies = []
    for path in sorted(SAMPLES.glob("*-photo.*")):
        buffer = io.BytesIO()
        if path.suffix == ".png":  # one is 16-bit gray, which convert("RGB") would clip to blank
            buffer.write(path.read_bytes())
        else:
            with Image.open(path) as img:
                img.convert("RGB").save(buffer, format="PNG")
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.stem}.png"\r\n'
                f"Content-Type: image/png\r\n\r\n"
            ).encode()
            + buffer.getvalue()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        bodies.append((body, f"multipart/form-data; boundary={boundary}"))
    return bodies


ENDPOINTS = {"canvas": "/v1/predict", "photo": "/v1/predict", "canvas-explain": "/v1/explain"}


def load(port: int, pid: int, bodies: list[tuple[bytes, str]], requests: int, clients: int, path: str) -> dict:
    """Send `requests` POSTs from `clients` threads; latencies, errors and memory samples."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    memory = [rss_mb(pid)]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            body, kind = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": kind})
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200
            except OSError as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok, payload = False, str(exc).encode()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(payload[:200].decode(errors="replace"))
                if len(latencies) % 500 == 0:
                    memory.append(rss_mb(pid))

    begun = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    wall = time.perf_counter() - begun
    memory.append(rss_mb(pid))
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
        "rss_mb_start": round(memory[0], 1),
        "rss_mb_max": round(max(memory), 1),
        "rss_mb_end": round(memory[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="run directory or model file to serve")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--kinds", nargs="+", choices=list(ENDPOINTS), default=list(ENDPOINTS))
    args = parser.parse_args()
    makers = {"canvas": canvas_bodies, "photo": photo_bodies, "canvas-explain": canvas_bodies}
    kinds = {kind: makers[kind]() for kind in args.kinds}
    results = []
    for workers in args.workers:
        proc, port, first_answer = start(args.model, workers)
        start_cpu = cpu_seconds(proc.pid)
        try:
            for kind, bodies in kinds.items():
                load(port, proc.pid, bodies, args.warmup, args.clients, ENDPOINTS[kind])
                load_before = os.getloadavg()[0]
                cpu_before = cpu_seconds(proc.pid)
                row = load(port, proc.pid, bodies, args.requests, args.clients, ENDPOINTS[kind])
                # Server CPU per request: what an idle machine's latency is bounded by, whatever the load now.
                row["server_cpu_ms_per_request"] = round((cpu_seconds(proc.pid) - cpu_before) * 1000 / args.requests, 2)
                row.update(kind=kind, workers=workers, first_answer_s=round(first_answer, 3))
                row["start_cpu_s"] = round(start_cpu, 2)
                row["loadavg_1min"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
                results.append(row)
                print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\n{os.cpu_count()} CPUs; client and server on the same machine")
    print(
        "| workers | kind | first answer (CPU) | req/s | p50 ms | p99 ms | server CPU ms/req | errors | load | RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workers']} | {r['kind']} | {r['first_answer_s']} s ({r['start_cpu_s']} s) | {r['req_per_s']} | "
            f"{r['p50_ms']} | "
            f"{r['p99_ms']} | {r['server_cpu_ms_per_request']} | {r['errors']} | {r['loadavg_1min']} | "
            f"{r['rss_mb_start']} → {r['rss_mb_max']} → {r['rss_mb_end']} |"
        )


if __name__ == "__main__":
    main()
