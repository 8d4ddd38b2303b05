"""The epoch-commit protocol: checkpoint, history, manifest; and restoring the last committed epoch.

Each epoch's checkpoint gets its own file (checkpoints/epoch-NNNN.keras). The manifest is the
commit point: it names which files are `last`, `previous` and `best`, with their hashes. A commit

  1. saves epoch-N.keras (atomically),
  2. writes history.csv and history.json (atomically),
  3. writes manifest.json (atomically) - from here on epoch N is committed,
  4. deletes checkpoint files the manifest no longer names.

A crash or an I/O error (disk full, read-only, EIO) at any step leaves the manifest describing a
complete earlier epoch whose files are all present and match their hashes: readers never see a
half-committed epoch, and resume continues from there (a history longer than the committed
epoch is cut back to it). "best" is a reference to an epoch file, never a copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.errors import first_line
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.manifest import CheckpointRecord, Manifest
from mnist_cnn.runs.rundir import RunDir, RunError, checkpoint_file_name, file_sha256, write_history
from mnist_cnn.train.stop_rules import best_epoch

Log = Callable[[str], None]


def _identity(path) -> tuple[int, int] | None:
    import os

    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class CommitError(RunError):
    """Writing an epoch's state failed (disk full, read-only filesystem, I/O error)."""


def weights_sha256(model) -> str:
    """SHA-256 over the model's weights and the optimizer's state, in order.

    A .keras file embeds the save date, so two bit-identical models give different file
    hashes; this digest is what to compare across runs (the file hash guards integrity).
    """
    import hashlib

    digest = hashlib.sha256()
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    for variable in variables:
        # Not the variable's path: Keras names variables differently after loading a file.
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{value.dtype}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class RunMoved(RunError):
    """The run directory was deleted, moved or replaced while training: nothing more is written."""


class EpochCommitter:
    """Owns a training session's run state: the manifest object and the commit of each epoch.

    It also knows where the run lives: the run directory's (device, inode) when the session began,
    and the lock file it holds. Every write checks both first, so a run folder deleted or renamed
    while training is never silently re-created (atomic writes make missing parent folders).
    """

    def __init__(self, run: RunDir, cfg: Config, manifest: Manifest, lock_id: tuple[int, int] | None = None):
        self.run, self.cfg, self.manifest = run, cfg, manifest
        self.lock_id = lock_id
        self.home = _identity(run.root)
        self.moved: str | None = None

    def check_home(self) -> None:
        """RunMoved (one line) unless the run directory is still the one this session started in."""
        from mnist_cnn.runs import lock

        problem = self.moved
        if problem is None:
            if _identity(self.run.root) != self.home:
                problem = "was deleted, moved or replaced"
            elif not self.run.config.is_file() or self.run.config.is_symlink():
                problem = "lost its config.yaml"
            elif self.run.checkpoints.is_symlink() or self.run.plots.is_symlink():
                problem = "had checkpoints/ or plots/ replaced by a link"
            elif self.lock_id is not None and lock.identity(self.run.root) != self.lock_id:
                problem = "lost the lock file this session holds"
        if problem:
            self.moved = problem
            raise RunMoved(
                f"{self.run.root}: the run directory {problem} while training; stopped after epoch "
                f"{self.manifest.epochs_completed} without writing anything more (the run is not complete)"
            )

    def save_manifest(self) -> None:
        """Write the manifest as it is now (status changes outside an epoch commit)."""
        self.check_home()
        manifests.write(self.run, self.manifest)

    def commit(self, rows: list[dict], model, elapsed: Callable[[], float]) -> None:
        """Commit the epoch that ends `rows` (steps 1-4 above); CommitError if a write fails."""
        from mnist_cnn import atomic

        self.check_home()
        epoch = rows[-1]["epoch"]
        name = checkpoint_file_name(epoch)
        committed = self._snapshot()
        step = f"saving checkpoints/{name}"
        try:
            with atomic.atomic_path(self.run.checkpoints / name) as tmp:
                model.save(tmp)
            record = CheckpointRecord(epoch, file_sha256(self.run.checkpoints / name), weights_sha256(model), name)
            step = "writing history.csv"
            history_sha = write_history(self.run, rows)
            step = "writing manifest.json"
            self._record(record, rows, history_sha, elapsed())
            self.save_manifest()
        except OSError as exc:
            self._go_back(committed, name)
            raise CommitError(
                f"could not commit epoch {epoch}: {step} failed ({exc.strerror or first_line(exc)}); "
                f"the run stays at epoch {self.manifest.epochs_completed}"
            ) from exc
        self.remove_unreferenced()

    def _snapshot(self) -> tuple:
        m = self.manifest
        return dict(m.checkpoints), m.history_sha256, m.epochs_completed, list(m.epoch_seconds)

    def _record(self, record: CheckpointRecord, rows: list[dict], history_sha: str, seconds: float) -> None:
        """Update the manifest object in memory for the new epoch (written by the caller)."""
        m, monitor = self.manifest, self.cfg.train.checkpoint.monitor
        if "last" in m.checkpoints:
            m.checkpoints["previous"] = m.checkpoints["last"]
        m.checkpoints["last"] = record
        if best_epoch(rows, monitor) == record.epoch:
            m.checkpoints["best"] = CheckpointRecord(**{**vars(record), "monitor": monitor})
        m.history_sha256 = history_sha
        m.epochs_completed = record.epoch
        m.epoch_seconds = [*m.epoch_seconds[: record.epoch - 1], round(seconds, 3)]

    def _go_back(self, committed: tuple, new_file: str) -> None:
        """After a failed commit: the manifest object as last committed, the new checkpoint file away."""
        m = self.manifest
        m.checkpoints, m.history_sha256, m.epochs_completed, m.epoch_seconds = committed
        try:
            (self.run.checkpoints / new_file).unlink(missing_ok=True)
        except OSError:
            pass  # left behind: harmless, removed by the next successful commit

    def remove_unreferenced(self) -> None:
        """Delete checkpoint files that the manifest no longer names (best effort)."""
        keep = {rec.file for rec in self.manifest.checkpoints.values() if rec.file}
        for path in self.run.checkpoints.glob("epoch-*.keras"):
            if path.name not in keep:
                try:
                    path.unlink()
                except OSError:
                    pass  # a later commit tries again; readers only follow the manifest

    def restore(self, log: Log):
        """The model of the last good checkpoint and the epoch it ends; falls back to the previous one."""
        from mnist_cnn.inference.modelfiles import ModelSource, load

        recorded = self.manifest.checkpoints
        problems = []
        for role in ("last", "previous"):
            record = recorded.get(role)
            if record is None:
                continue
            try:
                path = record.path(self.run, role)
            except RunError as exc:
                problems.append(str(exc))
                continue
            try:
                # compile=True restores the optimizer's state along with the weights.
                model = load(ModelSource(path, expected_sha256=record.sha256), compile=True)
            except Exception as exc:  # any damage in the archive surfaces as some exception
                problems.append(f"{path.name}: {first_line(exc)}")
                continue
            if role != "last":
                log(f"Warning: the last checkpoint is unusable; resuming from epoch {record.epoch} instead")
            return model, record.epoch
        detail = "; ".join(dict.fromkeys(problems)) or "no checkpoint files"
        raise RunError(f"{self.run.root}: no usable checkpoint to resume from ({detail}); start a new run instead")

    def roll_back_to(self, epoch: int) -> None:
        """Make the manifest describe `epoch` as the last committed one (after a fallback on resume)."""
        m = self.manifest
        if m.epochs_completed == epoch:
            return
        previous, best = m.checkpoints.get("previous"), m.checkpoints.get("best")
        m.checkpoints = {"last": previous} if previous is not None and previous.epoch == epoch else {}
        if best is not None and best.epoch <= epoch:
            m.checkpoints["best"] = best
        m.epochs_completed = epoch
        m.epoch_seconds = m.epoch_seconds[:epoch]
