"""Why written numbers are misread: the segmentation, or the network on a well-cut digit?

Draws one row of scripts/bench_numbers.py (the same strings and photos: row R of its plan, seeded
by `robustness.number_row`), reads every photo as `predict` does, and for each misread one
reads it again digit by digit from the generator's true boxes (the rest of the page blanked to the
paper's median grey). A string whose true boxes are still misread fails on the network ("model");
one read right from its true boxes fails on the cutting or the choice between cuts ("segmentation");
where a true box alone reads as no digit or several (a slanted or touching neighbour reaches into
it), the test cannot tell ("box shared").

    python scripts/numbers_failures.py MODEL [--row 2] [--digits 4] [--paper plain] [--strings 200]

Row 2 with 4 digits on plain paper is bench_numbers' headline row. Prints one line per misread
photo, then the split and the string accuracy the true boxes would give (the model's ceiling on
these strings). Pinned to one CPU unless --all-cpus.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_numbers import load_test_set_and_model  # this folder is on the path when run as a script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--row", type=int, default=2, help="the row's index in bench_numbers' plan (its seed)")
    parser.add_argument("--digits", type=int, default=4)
    parser.add_argument("--paper", default="plain")
    parser.add_argument("--strings", type=int, default=200)
    parser.add_argument("--all-cpus", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args()
    x, y, runtime = load_test_set_and_model(args.model, args.all_cpus)
    from mnist_cnn import robustness
    from mnist_cnn.inference.image_decode import decode_gray
    from mnist_cnn.inference.predict import classify
    from mnist_cnn.inference.segment import ImageError, read_number

    def read(gray: np.ndarray) -> str:
        try:
            return read_number(gray, lambda batch: classify(runtime, batch)).text
        except ImageError:
            return ""

    causes = {"model": 0, "segmentation": 0, "box shared": 0}
    for i, shot in enumerate(robustness.number_row(x, y, args.row, args.paper, args.digits, args.strings, 0.0)):
        gray = decode_gray(shot.image)[0]
        text = read(gray)
        if text == shot.text:
            continue
        paper = float(np.median(gray))
        by_box = []
        for left, top, right, bottom in shot.boxes:
            alone = np.full_like(gray, paper)
            alone[top:bottom, left:right] = gray[top:bottom, left:right]
            by_box.append(read(alone) or "?")
        if "".join(by_box) == shot.text:
            cause = "segmentation"
        elif any(len(read_alone) != 1 for read_alone in by_box):
            cause = "box shared"
        else:
            cause = "model"
        causes[cause] += 1
        print(f"{i:4d} {shot.text} read {text or '-':<8} true boxes {' '.join(by_box):<12} {cause}"
              f"  touching pairs {shot.touching}", flush=True)  # fmt: skip
    wrong = sum(causes.values())
    print(f"{wrong} of {args.strings} misread: {causes['model']} by the model on their true boxes, "
          f"{causes['segmentation']} by the segmentation, {causes['box shared']} with a box shared; "
          f"string accuracy {1 - wrong / args.strings:.1%}, "
          f"read from true boxes at most {1 - causes['model'] / args.strings:.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
