"""Train the segment verifier (one digit / several touching digits / a piece of one) and fit how it is weighed.

    python scripts/train_segment_verifier.py MODEL [--train-strings 4000] [--epochs 12] [--workers 2]
    python scripts/train_segment_verifier.py MODEL --fit-only     # refit the weights for the shipped networks
    python scripts/train_segment_verifier.py MODEL --cache DIR    # keep the cut strings: reruns take minutes

MODEL: the digit classifier the weights are fitted with (a run directory or model file, as for
`mnist-cnn predict --model`; configs/chollet.yaml's run). Writes, next to segment_verifier.py:
segment_verifier.onnx (the networks) and segment_verifier.json (the fitted weights and how they
were obtained). Only MNIST *training* digits are used: the benchmarks (scripts/bench_numbers.py,
`evaluate --robustness`) read the test digits.

1. Photos of 1–6-digit strings (mnist_cnn.number_photos: every paper kind, touching pairs, broken
   strokes) are cut into candidates exactly as `predict` does (segment_layout), neighbours that
   may be one digit also joined. Each candidate part is labelled by how much of each true digit's
   ink lies in its box: nearly all of one digit's and little of any other's (one), nearly all of
   two or more (several), or under 70% of any (piece); unclear parts are left out.
2. Two small networks learn the label from the part's 28×28 and its geometry (Part.geometry: height
   and width against the writing's) on the first set of strings (classes balanced); the shipped
   verifier averages their probabilities. They differ only in a piece the classifier reads as a 1
   (a 4's upright, half a 0 cut off): drawn like a 1, its image cannot tell, so one network leaves
   such pieces out and the other learns them as pieces; averaged, a 1-like part is "maybe a piece".
3. On a second set, the weights of the score in `segment.choose` (verifier log-probabilities and
   the cut's shape features, next to the classifier's log-probability) are fitted to pick the
   candidate that reads the true digits, by maximising a softened share of right picks
   (Nelder-Mead, temperatures 1, 0.3, 0.1, a small L2 penalty), over the choices that matter
   (some candidate is right and some is wrong): each group's candidates, and where two neighbours
   may be one digit, their readings apart against the joined one. Shape features stay costs
   (SIGNS).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import pickle
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
FILTERS, DENSE = (16, 32), 64  # the network's two convolutions and its joint dense layer
NAMES = [*segment_verifier.CLASSES, *FEATURES]
# +1: the weight is kept >= 0, -1: <= 0 (a cost), 0: free. A fit left free once rewarded wide
# readings (+0.17), and a 4-digit group read as one digit won.
SIGNS = np.array([{"one": 1, "several": 0, "piece": 0, "joined": 0}.get(name, -1) for name in NAMES])
HAND_SET_COSTS = {"cuts": -0.3, "crossings": -1.0, "short": -3.0, "wide": -4.0, "relative": -4.0}  # before any fit


def _ink_share(part, box, ink: np.ndarray) -> float:
    """The share of one true digit's ink (`ink` over its `box`) that lies inside the part's box."""
    left, top = max(part[0], box[0]), max(part[1], box[1])
    right, bottom = min(part[2], box[2]), min(part[3], box[3])
    if right <= left or bottom <= top:
        return 0.0
    inside = ink[top - box[1] : bottom - box[1], left - box[0] : right - box[0]]
    return float(inside.sum()) / max(float(ink.sum()), 1e-6)


def label(part, truths, inks) -> int | None:
    """ONE, SEVERAL or PIECE from how much of each true digit's ink lies in the part's box; None when unclear.

    By ink, not by box areas: the left half of a 4 written in two strokes covers most of the 4's box
    but not its ink, and is a piece.
    """
    shares = sorted((_ink_share(part, box, ink) for box, ink in zip(truths, inks, strict=True)), reverse=True)
    whole = [share for share in shares if share > 0.85]
    if len(whole) >= 2:
        return SEVERAL
    if len(whole) == 1:
        return ONE if len(shares) == 1 or shares[1] < 0.25 else None
    return PIECE if shares[0] < 0.7 else None


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
        # One digit too: a lone wide digit is read through candidates like touching ones, and the
        # verifier must not learn that a line's only group, as wide as its own "typical" width, is several.
        chosen = rng.choice(len(y), size=int(rng.integers(1, 7)), replace=False)
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
        row, lists = 0, []
        for group in found.candidate_lists():
            if not group:  # two neighbours that cannot be one digit
                lists.append(None)
                continue
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
                    "geometry": np.array([p.geometry for p in candidate.parts], np.float32),
                    "labels": [label(p.box, shot.boxes, shot.inks) for p in candidate.parts],
                })  # fmt: skip
            lists.append({"truth": truth, "candidates": candidates})
        apart = len(found.groups)
        out.append({"text": shot.text, "groups": lists[:apart], "joined": lists[apart:]})
    return out


def choices(string: dict) -> list[dict]:
    """The string's choices as `segment.choose` scores them: each group's candidates; and where two
    neighbours may be one digit, every pair of their candidates read apart against the joined reading."""
    groups, joined = string["groups"], string["joined"]
    units = list(groups)
    for i, together in enumerate(joined):
        if together is None:
            continue
        left, right = groups[i], groups[i + 1]
        apart = [{"read": a["read"] + b["read"], "log_p": a["log_p"] + b["log_p"],
                  "features": list(np.add(a["features"], b["features"])),
                  "images": np.concatenate([a["images"], b["images"]]),
                  "geometry": np.concatenate([a["geometry"], b["geometry"]])}
                 for a in left["candidates"] for b in right["candidates"]]  # fmt: skip
        units.append({"truth": left["truth"] + right["truth"], "candidates": apart + together["candidates"]})
    return units


def gather(count: int, spec: dict, model: str, workers: int, cache: Path | None = None) -> list[dict]:
    """`count` strings of a set, collected by `workers` processes (each loads MNIST and the model once).

    cache: a folder where the collected strings are kept (pickled), so that trying another network or
    fit does not photograph and cut them again. They are named by the set, the count, the model and
    the code that makes them (the package's sources but the scoring's, and the labelling here).
    """
    if cache is not None:
        import inspect

        key = hashlib.sha1(json.dumps([spec, count, str(Path(model).resolve())]).encode())
        for source in sorted((ROOT / "src" / "mnist_cnn").rglob("*.py")):
            if source.name not in ("segment_verifier.py", "segment.py"):  # the scoring: collect never calls it
                key.update(source.read_bytes())
        for function in (collect, label, _ink_share):
            key.update(inspect.getsource(function).encode())
        path = cache / f"strings-{spec['seed']}-{count}-{key.hexdigest()[:12]}.pkl"
        if path.exists():
            with path.open("rb") as f:
                return pickle.load(f)  # noqa: S301 (our own file, written below)
        strings = gather(count, spec, model, workers)
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as f:
            pickle.dump(strings, f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        return strings
    step = -(-count // workers)
    jobs = [(first, min(step, count - first), spec, model) for first in range(0, count, step)]
    # Spawned, not forked: after training, this process holds TensorFlow's threads, and a fork of
    # it can die on one of their locks (BrokenProcessPool).
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [s for chunk in pool.map(collect, jobs) for s in chunk]


def _labelled_parts(strings: list[dict], one_like_pieces: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct labelled part (image, geometry, label); 1-like pieces labelled pieces or left out."""
    images, shapes, labels, seen = [], [], [], set()
    for s in strings:
        for g in [*s["groups"], *(j for j in s["joined"] if j is not None)]:
            for c in g["candidates"]:
                # c["read"] holds one digit per part: the classifier's reading.
                for image, shape, lab, read in zip(c["images"], c["geometry"], c["labels"], c["read"], strict=True):
                    if lab is None or (lab == PIECE and read == "1" and not one_like_pieces):
                        continue
                    key = hashlib.sha1(image.tobytes() + shape.tobytes()).hexdigest()
                    if key in seen:
                        continue
                    seen.add(key)
                    images.append(image)
                    shapes.append(shape)
                    labels.append(lab)
    return np.stack(images)[..., np.newaxis], np.stack(shapes), np.array(labels)


def _member(x: np.ndarray, g: np.ndarray, y: np.ndarray, epochs: int):
    """One network trained on the labelled parts (classes balanced); its Keras model and validation accuracy."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((28, 28, 1), name="image")
    geometry = keras.Input((3,), name="geometry")
    seen_ink = image
    for filters in FILTERS:
        seen_ink = keras.layers.MaxPooling2D()(keras.layers.Conv2D(filters, 3, activation="relu")(seen_ink))
    seen_ink = keras.layers.Dropout(0.3)(keras.layers.Flatten()(seen_ink))
    shape = keras.layers.Dense(16, activation="relu")(geometry)
    joint = keras.layers.Dense(DENSE, activation="relu")(keras.layers.Concatenate()([seen_ink, shape]))
    model = keras.Model([image, geometry], keras.layers.Dense(3, activation="softmax")(joint))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    # Balanced classes: touching digits ("several") are the rarest parts and the costliest to miss.
    counts = np.bincount(y, minlength=3)
    balance = {k: float(len(y) / (3 * max(int(n), 1))) for k, n in enumerate(counts)}
    history = model.fit([x, g], y, epochs=epochs, batch_size=64, validation_split=0.1, verbose=2,
                        class_weight=balance)  # fmt: skip
    return model, round(float(history.history["val_accuracy"][-1]), 4)


def train(strings: list[dict], epochs: int, target: Path) -> dict:
    """Train the two members (see the module docstring); export their averaged answer to ONNX at `target`."""
    import keras
    import tensorflow as tf

    members, record = [], {}
    for one_like_pieces in (False, True):
        x, g, y = _labelled_parts(strings, one_like_pieces)
        model, accuracy = _member(x, g, y, epochs)
        members.append(model)
        counts = dict(zip(segment_verifier.CLASSES, np.bincount(y, minlength=3).tolist(), strict=True))
        name = "one_like_pieces_labelled" if one_like_pieces else "one_like_pieces_left_out"
        record[name] = {"parts": len(y), "per_class": counts, "validation_accuracy": accuracy}
    image = keras.Input((28, 28, 1), name="image")
    geometry = keras.Input((3,), name="geometry")
    both = keras.Model([image, geometry], keras.layers.Average()([m([image, geometry]) for m in members]))
    # One argument, the list of both inputs (a flat list would be read as two arguments).
    signature = [[tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image"),
                  tf.TensorSpec((None, 3), tf.float32, name="geometry")]]  # fmt: skip
    both.export(str(target), format="onnx", input_signature=signature, verbose=False)
    return {**record, "epochs": epochs, "weights": int(both.count_params())}


def fit_weights(strings: list[dict]) -> tuple[dict, dict]:
    """Weights for NAMES that pick the right candidate most often (see the module docstring)."""
    from scipy.optimize import minimize

    groups = []
    for s in strings:
        for g in choices(s):
            right = np.array([c["read"] == g["truth"] for c in g["candidates"]])
            if not right.any() or right.all():
                continue  # the choice cannot matter here
            log_p = np.array([c["log_p"] for c in g["candidates"]])
            table = []
            for c in g["candidates"]:
                verdict = segment_verifier.log_probabilities(c["images"][..., np.newaxis], c["geometry"]).sum(axis=0)
                table.append([*verdict, *c["features"]])
            groups.append((log_p, np.array(table), right))

    def weights_of(theta: np.ndarray) -> np.ndarray:
        """The verifier's "one" counts for a candidate and the shape features against it, whatever the fit."""
        return np.where(SIGNS == 0, theta, SIGNS * np.abs(theta))

    def right_share(w: np.ndarray) -> float:
        return float(np.mean([right[np.argmax(log_p + table @ w)] for log_p, table, right in groups]))

    def loss(theta: np.ndarray, temperature: float) -> float:
        w, total = weights_of(theta), 0.0
        for log_p, table, right in groups:
            s = (log_p + table @ w) / temperature
            p = np.exp(s - s.max())
            total += p[right].sum() / p.sum()
        return L2 * float(np.sum(theta**2)) - total / len(groups)

    hand_set = np.array([HAND_SET_COSTS.get(name, 0.0) for name in NAMES])
    before = right_share(hand_set)
    theta = hand_set + (np.array(NAMES) == "one")  # start: the verifier's "one" on, the old shape costs
    for temperature in (1.0, 0.3, 0.1):
        theta = minimize(loss, theta, args=(temperature,), method="Nelder-Mead",
                         options={"maxiter": 1500, "xatol": 1e-3, "fatol": 1e-6}).x  # fmt: skip
    w = weights_of(theta)
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
    parser.add_argument("--fit-only", action="store_true", help="keep the shipped networks; fit only the weights")
    parser.add_argument("--cache", type=Path, help="keep the photographed and cut strings in this folder, for reruns")
    args = parser.parse_args()
    started = time.perf_counter()
    command = " ".join(["python scripts/train_segment_verifier.py", *sys.argv[1:]])
    if args.fit_only:
        previous = json.loads(segment_verifier.WEIGHTS_FILE.read_text())
        trained = previous["verifier"]
        network = {"network_command": previous.get("network_command", previous["command"]),
                   "network_seconds": previous.get("network_seconds", previous["seconds"])}  # fmt: skip
    else:
        trained = train(gather(args.train_strings, TRAIN_SET, args.model, args.workers, args.cache), args.epochs,
                        segment_verifier.MODEL_FILE)  # fmt: skip
        print(f"verifier: {trained}", flush=True)
        segment_verifier._session.cache_clear()  # noqa: SLF001 (the file was just replaced)
        network = {"network_command": command, "network_seconds": round(time.perf_counter() - started)}
    weights, fitted = fit_weights(gather(args.fit_strings, FIT_SET, args.model, args.workers, args.cache))
    record = {"weights": weights, "fit": fitted, "verifier": trained,
              "train_set": {**TRAIN_SET, "strings": args.train_strings},
              "fit_set": {**FIT_SET, "strings": args.fit_strings},
              "model": args.model, "command": command, "seconds": round(time.perf_counter() - started),
              **network}  # fmt: skip
    segment_verifier.WEIGHTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
