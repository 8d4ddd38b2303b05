"""Train the segment verifier (one digit / several touching digits / a piece of one) and fit how it is weighed.

    python scripts/train_segment_verifier.py MODEL [--train-strings 4000] [--epochs 12] [--workers 2]

MODEL: the digit classifier the weights are fitted with (a run directory or model file, as for
`mnist-cnn predict --model`; configs/chollet.yaml's run). Writes, next to segment_verifier.py:
segment_verifier.onnx (the network) and segment_verifier.json (the fitted weights and how they
were obtained). Only MNIST *training* digits are used: the benchmarks (scripts/bench_numbers.py,
`evaluate --robustness`) read the test digits.

1. Photos of 2–6-digit strings (mnist_cnn.number_photos: every paper kind, touching pairs, broken
   strokes) are cut into candidates exactly as `predict` does (segment_layout). Each candidate
   part is labelled by where the true digits lay: it covers one digit's box (one), two or more
   (several), or under half of any (piece); unclear overlaps are left out.
2. A small CNN learns the label from the part's 28×28 on the first set of strings.
3. On a second set, the weights of the score in `segment.choose` (verifier log-probabilities and
   the cut's shape features, next to the classifier's log-probability) are fitted to pick the
   candidate that reads the group's true digits, by maximising a softened share of right picks
   (Nelder-Mead, temperatures 1, 0.3, 0.1, a small L2 penalty), over the groups where the choice
   matters (some candidate is right and some is wrong).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mnist_cnn.inference import segment_verifier  # noqa: E402
from mnist_cnn.inference.segment_candidates import FEATURES  # noqa: E402

ONE, SEVERAL, PIECE = range(3)
TRAIN_SET = {"seed": 21, "touching": 0.3, "broken": 0.1}
FIT_SET = {"seed": 22, "touching": 0.2, "broken": 0.1}
L2 = 0.001
NAMES = [*segment_verifier.CLASSES[:2], *FEATURES]  # "piece" is the rest of "one": not weighed apart


def _overlap(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(a) -> int:
    return max(1, (a[2] - a[0]) * (a[3] - a[1]))


def label(part, truths) -> int | None:
    """ONE, SEVERAL or PIECE from a part's box and the true digits' boxes; None when unclear."""
    covered = [_overlap(part, t) / _area(t) for t in truths]
    most = [j for j, share in enumerate(covered) if share > 0.6]
    if len(most) >= 2:
        return SEVERAL
    if len(most) == 1:
        return ONE if _overlap(part, truths[most[0]]) / _area(part) > 0.7 else None
    return PIECE if max(covered) < 0.5 else None


def collect(job: tuple) -> list[dict]:
    """Strings `first`..`first + count` of a set: each group's candidates, their parts' images and labels."""
    (first, count, spec, model) = job
    from mnist_cnn import number_photos
    from mnist_cnn.data.acquire import load_mnist
    from mnist_cnn.inference.image_decode import decode_gray
    from mnist_cnn.inference.predict import classify
    from mnist_cnn.inference.runtimes import load_runtime
    from mnist_cnn.inference.segment import ImageError, layout

    mnist = load_mnist()
    x, y = mnist.x_train.astype(np.float32) / 255.0, mnist.y_train
    runtime = load_runtime(model)
    out = []
    for i in range(first, first + count):
        rng = np.random.default_rng([spec["seed"], i])  # string i is the same however the work is split
        chosen = rng.choice(len(y), size=int(rng.integers(2, 7)), replace=False)
        kind = number_photos.KINDS[i % len(number_photos.KINDS)]
        shot = number_photos.number_photo(x[chosen], y[chosen], kind, seed=spec["seed"] * 100000 + i,
                                          touching=spec["touching"], broken=spec["broken"])  # fmt: skip
        try:
            found = layout(decode_gray(shot.image)[0])
        except ImageError:
            continue
        if found.single:
            continue
        probs = classify(runtime, found.images())
        centres = [(b[0] + b[2]) / 2 for b in shot.boxes]
        row, groups = 0, []
        for group in found.groups:
            whole = group[0].parts[0].box
            truth = "".join(shot.text[k] for k, c in enumerate(centres) if whole[0] <= c < whole[2])
            candidates = []
            for candidate in group:
                rows = probs[row : row + len(candidate.parts)]
                row += len(candidate.parts)
                candidates.append({
                    "read": "".join(str(int(r.argmax())) for r in rows),
                    "log_p": float(np.sum(np.log(np.maximum(rows.max(axis=1), 1e-12)))),
                    "features": [float(candidate.features[name]) for name in FEATURES],
                    "images": np.stack([p.image for p in candidate.parts]).astype(np.float32),
                    "labels": [label(p.box, shot.boxes) for p in candidate.parts],
                })  # fmt: skip
            groups.append({"truth": truth, "candidates": candidates})
        out.append({"text": shot.text, "groups": groups})
    return out


def gather(count: int, spec: dict, model: str, workers: int) -> list[dict]:
    """`count` strings of a set, collected by `workers` processes (each loads MNIST and the model once)."""
    step = -(-count // workers)
    jobs = [(first, min(step, count - first), spec, model) for first in range(0, count, step)]
    with ProcessPoolExecutor(workers) as pool:
        return [s for chunk in pool.map(collect, jobs) for s in chunk]


def train(strings: list[dict], epochs: int, target: Path) -> dict:
    """Fit the CNN on every distinct labelled part; export it to ONNX at `target`."""
    import keras
    import tensorflow as tf

    images, labels, seen = [], [], set()
    for s in strings:
        for g in s["groups"]:
            for c in g["candidates"]:
                for image, lab in zip(c["images"], c["labels"], strict=True):
                    key = hashlib.sha1(image.tobytes()).hexdigest()
                    if lab is None or key in seen:
                        continue
                    seen.add(key)
                    images.append(image)
                    labels.append(lab)
    x, y = np.stack(images)[..., np.newaxis], np.array(labels)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dropout(0.3),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=64, validation_split=0.1, verbose=2)
    signature = [tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image")]
    model.export(str(target), format="onnx", input_signature=signature, verbose=False)
    counts = np.bincount(y, minlength=3).tolist()
    return {"parts": len(y), "per_class": dict(zip(segment_verifier.CLASSES, counts, strict=True)),
            "epochs": epochs, "validation_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
            "weights": int(model.count_params())}  # fmt: skip


def fit_weights(strings: list[dict]) -> tuple[dict, dict]:
    """Weights for NAMES that pick the right candidate most often (see the module docstring)."""
    from scipy.optimize import minimize

    groups = []
    for s in strings:
        for g in s["groups"]:
            right = np.array([c["read"] == g["truth"] for c in g["candidates"]])
            if not right.any() or right.all():
                continue  # the choice cannot matter here
            log_p = np.array([c["log_p"] for c in g["candidates"]])
            table = []
            for c in g["candidates"]:
                verdict = segment_verifier.log_probabilities(c["images"][..., np.newaxis]).sum(axis=0)
                table.append([verdict[0], verdict[1], *c["features"]])
            groups.append((log_p, np.array(table), right))

    def right_share(w: np.ndarray) -> float:
        return float(np.mean([right[np.argmax(log_p + table @ w)] for log_p, table, right in groups]))

    def loss(w: np.ndarray, temperature: float) -> float:
        total = 0.0
        for log_p, table, right in groups:
            s = (log_p + table @ w) / temperature
            p = np.exp(s - s.max())
            total += p[right].sum() / p.sum()
        return L2 * float(np.sum(w**2)) - total / len(groups)

    start = np.array([1.0, 0.0, -0.3, -1.0, -3.0, -4.0, -4.0])  # verifier on, the old hand-set shape costs
    before = right_share(np.array([0.0, 0.0, -0.3, -1.0, -3.0, -4.0, -4.0]))
    w = start
    for temperature in (1.0, 0.3, 0.1):
        w = minimize(loss, w, args=(temperature,), method="Nelder-Mead",
                     options={"maxiter": 1500, "xatol": 1e-3, "fatol": 1e-6}).x  # fmt: skip
    return ({name: round(float(v), 4) for name, v in zip(NAMES, w, strict=True)},
            {"groups_where_the_choice_matters": len(groups), "right_picks_hand_set_costs_only": round(before, 4),
             "right_picks_fitted": round(right_share(w), 4)})  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--train-strings", type=int, default=4000)
    parser.add_argument("--fit-strings", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    started = time.perf_counter()
    trained = train(gather(args.train_strings, TRAIN_SET, args.model, args.workers), args.epochs,
                    segment_verifier.MODEL_FILE)  # fmt: skip
    print(f"verifier: {trained}", flush=True)
    segment_verifier._session.cache_clear()  # noqa: SLF001 (the file was just replaced)
    weights, fitted = fit_weights(gather(args.fit_strings, FIT_SET, args.model, args.workers))
    record = {"weights": weights, "fit": fitted, "verifier": trained,
              "train_set": {**TRAIN_SET, "strings": args.train_strings},
              "fit_set": {**FIT_SET, "strings": args.fit_strings},
              "model": args.model, "command": " ".join(["python scripts/train_segment_verifier.py", *sys.argv[1:]]),
              "seconds": round(time.perf_counter() - started)}  # fmt: skip
    segment_verifier.WEIGHTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
