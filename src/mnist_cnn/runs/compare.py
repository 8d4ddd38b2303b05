"""Compare two runs: are their histories and weights identical, and if not, which recorded facts differ?"""

from __future__ import annotations

import hashlib

from mnist_cnn import safe_read
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.environment import COMPARABLE
from mnist_cnn.runs.manifest import Manifest
from mnist_cnn.runs.rundir import RunDir, RunError, file_sha256

CHECKPOINT_LIMIT = 256 * 2**20  # as for any model file (inference/modelfiles.MAX_FILE_BYTES)


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def environment_differences(a: dict, b: dict) -> list[dict]:
    """Manifest facts that can change results (versions, CPU, GPU, threads, precision) and differ."""
    facts_a = _flatten({k: a.get(k) for k in COMPARABLE})
    facts_b = _flatten({k: b.get(k) for k in COMPARABLE})
    return [
        {"fact": key, "a": facts_a.get(key), "b": facts_b.get(key)}
        for key in sorted(set(facts_a) | set(facts_b))
        if facts_a.get(key) != facts_b.get(key)
    ]


def _training_config(run: RunDir) -> dict | None:
    """The run's config without `output` (where a run was written does not change what it learns)."""
    from mnist_cnn.config import ConfigError
    from mnist_cnn.config.strict_yaml import parse_yaml

    try:
        raw, _ = parse_yaml(safe_read.read_text(run.config, safe_read.CONFIG_LIMIT, "config file"))
    except (OSError, ConfigError, safe_read.FileRefused):
        return None
    return {k: v for k, v in raw.items() if k != "output"} if isinstance(raw, dict) else None


def damaged_files(run: RunDir, manifest: Manifest) -> list[str]:
    """Files whose bytes no longer match the hashes the manifest recorded (or that are missing)."""
    problems = []
    for role, record in manifest.checkpoints.items():
        try:
            path = record.path(run, role)
        except RunError as exc:  # leads out of the run: damaged, not compared
            problems.append(str(exc))
            continue
        try:
            ok = file_sha256(path, CHECKPOINT_LIMIT) == record.sha256
        except safe_read.FileRefused as exc:
            problems.append(f"{exc} ({role} checkpoint)")
            continue
        except OSError:
            problems.append(f"{path}: missing or unreadable ({role} checkpoint)")
            continue
        if not ok:
            problems.append(f"{path}: SHA-256 differs from the manifest ({role} checkpoint)")
    if manifest.history_sha256 is not None:
        try:
            ok = hashlib.sha256(_history_bytes(run)).hexdigest() == manifest.history_sha256
        except (OSError, safe_read.FileRefused):
            ok = False
        if not ok:
            problems.append(f"{run.history_csv}: differs from the history the manifest recorded")
    return problems


def _history_bytes(run: RunDir) -> bytes:
    return safe_read.read_bytes(run.history_csv, safe_read.HISTORY_LIMIT, "history", follow_links=False)


def compare_runs(a: RunDir, b: RunDir) -> dict:
    """A JSON-able verdict: identical history bytes and checkpoint weights, files intact, environment differences."""
    manifest_a, manifest_b = manifests.read(a), manifests.read(b)
    damaged = damaged_files(a, manifest_a) + damaged_files(b, manifest_b)
    try:
        history_identical = _history_bytes(a) == _history_bytes(b)
    except (OSError, safe_read.FileRefused):
        history_identical = False
    checkpoints = {}
    for which in ("last", "best"):
        ra, rb = manifest_a.checkpoints.get(which), manifest_b.checkpoints.get(which)
        wa, wb = (r.weights_sha256 if r else None for r in (ra, rb))
        checkpoints[which] = {"a": wa, "b": wb, "identical": wa is not None and wa == wb}
    config_identical = _training_config(a) == _training_config(b)
    identical = not damaged and history_identical and all(c["identical"] for c in checkpoints.values())
    return {
        "a": str(a.root),
        "b": str(b.root),
        "identical": identical,
        "damaged": damaged,
        "history_identical": history_identical,
        "checkpoints": checkpoints,
        "config_identical": config_identical,
        "environment_differences": environment_differences(manifest_a.to_json(), manifest_b.to_json()),
    }


def format_comparison(result: dict) -> str:
    """Human-readable verdict for the console."""
    lines = [f"A: {result['a']}", f"B: {result['b']}"]
    verdict = "DAMAGED" if result["damaged"] else "IDENTICAL" if result["identical"] else "DIFFERENT"
    parts = [f"history {'same' if result['history_identical'] else 'differs'}"]
    parts += [f"{k} weights {'same' if v['identical'] else 'differ'}" for k, v in result["checkpoints"].items()]
    lines.append(f"Verdict: {verdict} ({', '.join(parts)})")
    if result["damaged"]:
        lines.append("Files that fail their recorded hashes (a run with damaged files is never identical):")
        lines += [f"  {problem}" for problem in result["damaged"]]
    if not result["config_identical"]:
        lines.append("Configs differ: the runs were not asked to do the same thing.")
    if result["environment_differences"]:
        lines.append("Recorded environment facts that differ:")
        lines += [f"  {d['fact']}: {d['a']!r} vs {d['b']!r}" for d in result["environment_differences"]]
    elif not result["identical"]:
        lines.append("No recorded environment fact differs.")
    return "\n".join(lines)
