"""Latency of the draw page's Number mode: a drawn 4-digit number read through `serve`, median and p90.

Starts the real command (`python -m mnist_cnn.cli serve MODEL --port 0`, ONNX export when the run
has one) and sends, one at a time over a keep-alive connection (a person drawing), exactly the body
the page sends: the 840×280 pad at half size (420×140, as app.js sends it; `--sent-scale 1` sends
it whole) as a PNG data URL, `"mode": "number"`, `"include_image": true`.
The drawings are synthetic pads: MNIST test digits enlarged to the pad's size (160–200 px tall,
strokes ~20 px like the pad's pen), thresholded to a pen's hard edges, white on black, spaced
15–60 px apart with a little vertical wander. Also reports string and digit accuracy on them, the
server's CPU per request (what an idle machine's latency is bounded by), the machine's load, and,
in-process, where one request's CPU time goes (decode, layout, model, choice, JSON).

    python scripts/bench_serve_numbers.py /work/models/runs/chollet-… --requests 300 --digits 4
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "scripts")]
from bench_serve import cpu_seconds, start  # noqa: E402  (the same server start-up as the other serve benchmark)

PAD = (840, 280)  # the page's number pad (width, height), as app.js sets it
GAP = (15, 60)  # px between neighbouring digits' ink


def pad_drawing(digits: list[np.ndarray], rng: np.random.Generator, sent_scale: float = 0.5) -> bytes:
    """MNIST digits (uint8 28×28) drawn side by side on a black pad, as the PNG the page sends (RGBA, opaque)."""
    height = rng.uniform(160, 200)
    pieces = []
    for image in digits:
        ink = np.argwhere(image > 40)
        (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
        crop = Image.fromarray(image[top:bottom, left:right])
        scale = height / crop.height
        big = np.asarray(crop.resize((max(1, round(crop.width * scale)), round(height)), Image.BILINEAR), np.float32)
        pieces.append(np.clip((big / 255 - 0.35) * 4, 0, 1))  # a pen's hard edges, not an enlarged blur
    gaps = rng.integers(*GAP, size=len(pieces) - 1)
    width = sum(p.shape[1] for p in pieces) + gaps.sum()
    shrink = min(1.0, (PAD[0] - 40) / width, (PAD[1] - 40) / max(p.shape[0] for p in pieces))
    pad = np.zeros(PAD[::-1], np.float32)
    left = (PAD[0] - width * shrink) / 2
    for piece, gap in zip(pieces, [*gaps, 0], strict=True):
        if shrink < 1:
            size = (max(1, round(piece.shape[1] * shrink)), max(1, round(piece.shape[0] * shrink)))
            piece = np.asarray(Image.fromarray(piece).resize(size, Image.BILINEAR))
        top = int(np.clip((PAD[1] - piece.shape[0]) / 2 + rng.normal(0, 8), 0, PAD[1] - piece.shape[0]))
        x = int(round(left))
        pad[top : top + piece.shape[0], x : x + piece.shape[1]] = np.maximum(
            pad[top : top + piece.shape[0], x : x + piece.shape[1]], piece
        )
        left += piece.shape[1] + gap * shrink
    grey = Image.fromarray(np.round(pad * 255).astype(np.uint8))
    if sent_scale != 1:  # the page's smaller copy (drawImage with smoothing: an area average, like BOX)
        grey = grey.resize((round(PAD[0] * sent_scale), round(PAD[1] * sent_scale)), Image.BOX)
    grey = np.asarray(grey)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def drawings(count: int, digits: int, seed: int, sent_scale: float = 0.5) -> list[tuple[bytes, str]]:
    """`count` page request bodies and the number each one shows."""
    from mnist_cnn.data.acquire import load_mnist

    data = load_mnist(allow_download=False, log=lambda _: None)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        picks = rng.integers(0, len(data.y_test), size=digits)
        png = pad_drawing([np.asarray(data.x_test[i]).reshape(28, 28) for i in picks], rng, sent_scale)
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        body = {"images": [{"data_url": url, "name": "canvas"}], "include_image": True, "mode": "number"}
        out.append((json.dumps(body).encode(), "".join(str(int(data.y_test[i])) for i in picks)))
    return out


def measure(port: int, pid: int, bodies: list[tuple[bytes, str]]) -> dict:
    """Each body once, one after another; latencies, readings' accuracy and the server's CPU per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, right, digits_right, digits_total, errors = [], 0, 0, 0, []
    load_before, cpu_before = os.getloadavg()[0], cpu_seconds(pid)
    for body, truth in bodies:
        begun = time.perf_counter()
        conn.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        latencies.append((time.perf_counter() - begun) * 1000)
        if response.status != 200:
            errors.append(payload[:200].decode(errors="replace"))
            continue
        text = json.loads(payload)["predictions"][0]["text"]
        right += text == truth
        digits_total += len(truth)
        if len(text) == len(truth):  # a string with a digit too many or too few counts all its digits wrong
            digits_right += sum(a == b for a, b in zip(text, truth, strict=True))
    ms = sorted(latencies)
    return {
        "requests": len(ms),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
        "server_cpu_ms_per_request": round((cpu_seconds(pid) - cpu_before) * 1000 / len(ms), 1),
        "string_accuracy": round(right / len(bodies), 4),
        "digit_accuracy": round(digits_right / max(1, digits_total), 4),
        "loadavg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def stages(model: str, bodies: list[tuple[bytes, str]]) -> dict:
    """Median CPU ms of each step of one request, in-process, on the same bodies (no HTTP; the machine's load aside)."""
    from mnist_cnn.inference import segment
    from mnist_cnn.serve import inputs
    from mnist_cnn.serve.model import load_served
    from mnist_cnn.serve.numbers import number_row

    runtime = load_served(model).runtime
    steps: dict[str, list[float]] = {"parse+decode": [], "layout": [], "model": [], "choose": [], "answer JSON": []}
    for body, _ in bodies:
        t0 = time.process_time()
        request = inputs.PredictRequest.model_validate_json(body)
        ((name, picture),) = inputs.pictures_from_json(request, 25_000_000)
        t1 = time.process_time()
        found = segment.layout(picture.gray)
        t2 = time.process_time()
        probs = runtime.probabilities(found.images())
        t3 = time.process_time()
        reading = segment.choose(found, probs)
        t4 = time.process_time()
        json.dumps({"predictions": [number_row(name, picture, reading, True)]})
        t5 = time.process_time()
        for key, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            steps[key].append(took * 1000)
    return {key: round(statistics.median(values), 2) for key, values in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="run directory or model file to serve")
    parser.add_argument("--requests", type=int, default=300, help="drawings sent (each once)")
    parser.add_argument("--digits", type=int, default=4, help="digits per drawing")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sent-scale", type=float, default=0.5, help="size of the picture sent, of the pad's")
    args = parser.parse_args()
    bodies = drawings(args.requests + args.warmup, args.digits, args.seed, args.sent_scale)
    proc, port, first_answer = start(args.model, 1)
    try:
        measure(port, proc.pid, bodies[: args.warmup])
        row = measure(port, proc.pid, bodies[args.warmup :])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    row.update(
        digits=args.digits, sent_scale=args.sent_scale, first_answer_s=round(first_answer, 2), cpus=os.cpu_count()
    )
    row["stages_cpu_ms_median"] = stages(args.model, bodies[args.warmup : args.warmup + 100])
    print(json.dumps(row, indent=1))
    print("\n| digits | requests | p50 ms | p90 ms | p99 ms | server CPU ms/req | string | digits | errors | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.digits} | {row['requests']} | {row['p50_ms']} | {row['p90_ms']} | {row['p99_ms']} | "
        f"{row['server_cpu_ms_per_request']} | {row['string_accuracy']:.1%} | {row['digit_accuracy']:.1%} | "
        f"{row['errors']} | {row['loadavg_1min']} |"
    )


if __name__ == "__main__":
    main()
