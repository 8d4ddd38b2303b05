"""The run manifest as a typed object: the one place that creates, reads, checks and writes manifest.json.

Everything else asks this module for run state instead of poking at a dict, so that a manifest of
the wrong shape (hand-edited, truncated by another tool, from a future version) is one clear
`RunError` here rather than a `KeyError` somewhere else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_cnn import atomic, safe_read
from mnist_cnn.runs.rundir import RunDir, RunError

STATUSES = ("running", "completed", "stopped_early", "interrupted", "failed", "diverged")
FINISHED = ("completed", "stopped_early")
CHECKPOINT_ROLES = ("last", "previous", "best")
# Files of runs written before checkpoints got per-epoch names.
LEGACY_FILES = {"last": "last.keras", "previous": "previous.keras", "best": "best.keras"}


def now() -> str:
    """The current local time with its UTC offset (ISO 8601), as every manifest time is written."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def parse_time(text: str | None) -> dt.datetime | None:
    """An absolute (timezone-aware) time from a manifest field, or None if absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.astimezone()  # naive: written in this machine's zone


def config_sha256(config_dict: dict) -> str:
    """SHA-256 of a resolved config's canonical JSON."""
    return hashlib.sha256(json.dumps(config_dict, sort_keys=True).encode()).hexdigest()


@dataclass
class CheckpointRecord:
    """One recorded checkpoint: its file (inside checkpoints/), epoch and hashes."""

    epoch: int
    sha256: str
    weights_sha256: str
    file: str | None = None  # None: a run written before per-epoch file names (see LEGACY_FILES)
    monitor: str | None = None

    def path(self, run: RunDir, role: str) -> Path:
        """Where this checkpoint's file is: inside the run's checkpoints/, links included (RunError otherwise)."""
        try:
            return safe_read.confined(run.root, f"checkpoints/{self.file or LEGACY_FILES[role]}", f"{role} checkpoint")
        except safe_read.FileRefused as exc:
            raise RunError(str(exc)) from None


@dataclass
class Manifest:
    """Run state: status, what was run, where and how, and the committed epochs."""

    status: str
    name: str
    seed: int
    started_at: str
    command: list[str] = field(default_factory=list)
    config: dict | None = None  # the resolved config (what config.yaml must still say)
    config_sha256: str | None = None
    reproducibility: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)  # versions, platform, cpu, gpus, git: stored at top level
    epochs_completed: int = 0
    epoch_seconds: list[float] = field(default_factory=list)
    checkpoints: dict[str, CheckpointRecord] = field(default_factory=dict)
    history_sha256: str | None = None
    config_epochs: int | None = None
    resumes: list[dict] = field(default_factory=list)
    finished_at: str | None = None
    stop_reason: str | None = None
    stopped_early: dict | None = None
    interrupted_at: str | None = None
    signal: str | None = None
    failed_at: str | None = None
    error: str | None = None
    diverged: dict | None = None
    exports: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # keys this version does not know: kept as they were

    @property
    def finished(self) -> bool:
        """True once the run completed or stopped early."""
        return self.status in FINISHED

    def record_config(self, config_dict: dict) -> None:
        """Store the resolved config and its hash (resume checks config.yaml against them)."""
        self.config, self.config_sha256 = config_dict, config_sha256(config_dict)

    def mark(self, status: str, **facts: Any) -> None:
        """Change status and set the facts that go with it (e.g. failed_at, error)."""
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self.status = status
        for key, value in facts.items():
            if not hasattr(self, key) or key in ("checkpoints", "extra"):
                raise ValueError(f"not a manifest field: {key}")
            setattr(self, key, value)

    def to_json(self) -> dict:
        """The manifest.json content (environment facts at top level, as earlier versions wrote them)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("environment", "extra"):
                out.update(value)
            elif f.name == "checkpoints":
                out[f.name] = {role: _drop_none(dataclasses.asdict(rec)) for role, rec in value.items()}
            elif value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, raw: Any, where: str = "manifest.json") -> Manifest:
        """Check the shape of parsed manifest.json and build the object; RunError naming the bad field."""
        if not isinstance(raw, dict):
            raise RunError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {"environment": {}, "extra": {}}
        for key, value in raw.items():
            if key in ENVIRONMENT_KEYS:
                values["environment"][key] = value
            elif key in known and key not in ("environment", "extra"):
                values[key] = value
            else:
                values["extra"][key] = value
        for key in ("status", "name", "seed", "started_at"):
            if key not in values:
                raise RunError(f"{where}: missing '{key}'")
        _expect(where, "status", values["status"], str, lambda v: v in STATUSES)
        _expect(where, "name", values["name"], str)
        _expect(where, "seed", values["seed"], int)
        _expect(where, "epochs_completed", values.get("epochs_completed", 0), int, lambda v: v >= 0)
        for key, kind in (("command", list), ("reproducibility", dict), ("data", dict), ("epoch_seconds", list),
                          ("resumes", list), ("exports", dict), ("config", dict)):  # fmt: skip
            if values.get(key) is not None:
                _expect(where, key, values[key], kind)
        values["checkpoints"] = _checkpoints(values.get("checkpoints") or {}, where)
        _check_exports(values.get("exports") or {}, where)
        return cls(**values)


ENVIRONMENT_KEYS = ("versions", "platform", "python_executable", "cpu", "gpus", "git_commit")


def _expect(where: str, key: str, value: Any, kind: type, ok=lambda _v: True) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int or not ok(value):
        raise RunError(f"{where}: '{key}' has an unexpected value {json.dumps(value)[:60]}")


def _checkpoints(raw: Any, where: str) -> dict[str, CheckpointRecord]:
    if not isinstance(raw, dict):
        raise RunError(f"{where}: 'checkpoints' should be an object")
    records = {}
    for role, entry in raw.items():
        if role not in CHECKPOINT_ROLES or not isinstance(entry, dict):
            raise RunError(f"{where}: unexpected checkpoint entry '{role}'")
        try:
            record = CheckpointRecord(**entry)
        except TypeError:
            raise RunError(f"{where}: checkpoint '{role}' has unexpected fields") from None
        _expect(where, f"checkpoints.{role}.epoch", record.epoch, int, lambda v: v >= 1)
        _expect(where, f"checkpoints.{role}.sha256", record.sha256, str)
        if record.file is not None:
            _expect(where, f"checkpoints.{role}.file", record.file, str, _plain_file_name)
        records[role] = record
    return records


def _check_exports(exports: dict, where: str) -> None:
    """Every recorded export names a file inside the run: a relative path without '..'."""
    for key, entry in exports.items():
        file = entry.get("file") if isinstance(entry, dict) else None
        if file is not None:
            _expect(where, f"exports.{key}.file", file, str, _inside_run)


def export_path(run: RunDir, key: str, entry: dict) -> Path:
    """Where a recorded export's file is: inside the run, links included, or a RunError naming the entry."""
    try:
        return safe_read.confined(run.root, entry.get("file"), f"manifest.json exports.{key}.file")
    except safe_read.FileRefused as exc:
        raise RunError(str(exc)) from None


def _inside_run(name: str) -> bool:
    """A relative path that cannot climb out of the run directory."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in parts and "\x00" not in name


def _plain_file_name(name: str) -> bool:
    """A bare file name: a manifest must not point outside checkpoints/."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def read(run: RunDir) -> Manifest:
    """The run's manifest; RunError (one line) if it is missing, unreadable or of the wrong shape."""
    try:
        text = safe_read.read_text(run.manifest, safe_read.MANIFEST_LIMIT, "manifest", follow_links=False)
    except FileNotFoundError:
        raise RunError(f"{run.root}: not a run directory (no manifest.json)") from None
    except safe_read.FileRefused as exc:
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(f"{run.root}: unreadable manifest.json ({exc.strerror or exc})") from None
    try:
        raw = safe_read.loads_strict(text)
    except ValueError as exc:
        raise RunError(f"{run.root}: manifest.json is not valid JSON ({exc})") from None
    return Manifest.from_json(raw, f"{run.manifest}")


def write(run: RunDir, manifest: Manifest) -> None:
    """Replace manifest.json atomically (strict JSON); never re-creates a run folder that went away."""
    if not run.root.is_dir():  # atomic writes make missing folders; a manifest must not resurrect a run
        raise FileNotFoundError(errno.ENOENT, "the run directory is gone; manifest.json not written", str(run.root))
    atomic.write_json(run.manifest, manifest.to_json())
