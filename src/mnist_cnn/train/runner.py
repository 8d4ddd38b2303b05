"""The `train` command's steps: set up the run directory, fit (or resume), score the test set, plot."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mnist_cnn import atomic, config, evaluate, interrupts, plots
from mnist_cnn.config import Config, ConfigError
from mnist_cnn.data.acquire import Mnist
from mnist_cnn.data.preparation import prepare, scale
from mnist_cnn.errors import first_line
from mnist_cnn.inference import modelfiles
from mnist_cnn.runs import environment, lock, rundir
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.manifest import Manifest
from mnist_cnn.runs.rundir import RunDir, RunError
from mnist_cnn.tfquiet import import_tensorflow
from mnist_cnn.train import resume_checks, training
from mnist_cnn.train.checkpoints import CommitError, EpochCommitter, RunMoved, weights_sha256
from mnist_cnn.train.console import Console
from mnist_cnn.train.stop_rules import Diverged


@dataclass
class Outcome:
    """How a train command ended."""

    run: RunDir
    status: str
    metrics: dict | None
    export_seconds: float = 0.0  # the end-of-training export, timed on its own


def _print_summary(model, log: Console) -> None:
    model.summary(print_fn=lambda text, **_: log(text.rstrip("\n")))


def start(cfg: Config, mnist: Mnist, log: Console) -> Outcome:
    """Train a new run of `cfg` on `mnist` from scratch, holding the run's lock throughout."""
    from mnist_cnn.models import build_model

    import_tensorflow()
    facts = training.configure_process(cfg)
    model = build_model(cfg.model, cfg.seed)  # config errors surface here, before anything is written
    data = prepare(mnist, cfg.data)
    _check_optional_packages(cfg)
    run = rundir.create(cfg.output.runs_dir, cfg.name)
    with lock.hold(run.root) as lock_id:
        manifest = Manifest(
            status="running", name=cfg.name, seed=cfg.seed, command=sys.argv, started_at=manifests.now(),
            reproducibility=facts, environment=environment.collect(),
            data={"source": mnist.source, "location": mnist.location, "sha256": mnist.digests,
                  "train": len(data.x_train), "validation": 0 if data.x_val is None else len(data.x_val),
                  "test": len(data.x_test), "validation_is_test": data.validation_is_test},
        )  # fmt: skip
        manifest.record_config(config.to_dict(cfg))
        atomic.write_text(run.config, config.to_yaml(cfg))
        committer = EpochCommitter(run, cfg, manifest, lock_id)
        committer.save_manifest()
        log.attach(run)
        log(f"Run directory: {run.root}")
        if data.validation_is_test:
            log("Warning: the test set is used for validation; test metrics are then not an unbiased estimate.")
        _print_summary(model, log)
        if cfg.output.plots:
            plots.plot_samples(mnist.x_train[:25], mnist.y_train[:25], run.plot("samples"))
        training.compile_model(model, cfg, len(data.x_train))
        return _fit_and_finish(model, cfg, data, committer, [], log)


def _check_optional_packages(cfg: Config) -> None:
    """Fail before the run directory exists if an enabled extra cannot work."""
    import importlib.util

    from mnist_cnn.export import check_available

    check_available(cfg.output.export)
    if cfg.output.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "output.tensorboard: the tensorboard package is not installed; "
            "pip install 'mnist-cnn[tensorboard]' or set output.tensorboard to false"
        )


def resume(run: RunDir, overrides: list[str], mnist_loader: Callable[[Config], Mnist], log: Console) -> Outcome:
    """Continue `run` from its last committed epoch, with its own config (epochs may be extended).

    The lock is taken before anything is read, so a second trainer is refused having touched nothing.
    """
    with lock.hold(run.root) as lock_id:
        rundir.check_own_folders(run)
        manifest = manifests.read(run)
        original = _recorded_config(run, manifest)
        cfg = config.load(run.config, overrides)
        resume_checks.check_resume_config(original, cfg)
        done = manifest.epochs_completed
        if cfg.train.epochs < done:
            raise ConfigError(
                f"train.epochs: the run already completed {done} epochs; cannot shrink it to {cfg.train.epochs}"
            )
        if manifest.status == "diverged":
            raise RunError(f"{run.root}: {(manifest.diverged or {}).get('reason', 'the run diverged')}; "
                           "resuming would diverge again, so start a new run with other settings")  # fmt: skip
        log.attach(run)
        if manifest.finished and cfg.train.epochs == original.train.epochs:
            log(f"{run.root}: run already {manifest.status.replace('_', ' ')} ({done} epochs); nothing to resume.")
            return Outcome(run, manifest.status, None)
        import_tensorflow()  # only now: a refused or finished resume answers without TensorFlow's start-up
        facts = training.configure_process(cfg)
        if facts != manifest.reproducibility:
            log(f"Warning: settings differ from the original session: {facts} vs {manifest.reproducibility}")
        data = prepare(mnist_loader(cfg), cfg.data)
        committer = EpochCommitter(run, cfg, manifest, lock_id)
        model, epoch = _restore(committer, cfg, len(data.x_train), log)
        resume_checks.check_architecture(committer, model, cfg)
        committer.roll_back_to(epoch)
        rows = rundir.read_history(run)[:epoch]
        if len(rows) != epoch:
            raise RunError(f"{run.root}: history.csv has {len(rows)} epochs but the checkpoint is from epoch {epoch}")
        manifest.mark("running", config_epochs=cfg.train.epochs)
        manifest.exports = {}  # made from the old checkpoint; exported again when this session ends
        manifest.resumes.append({"at": manifests.now(), "from_epoch": epoch, "command": sys.argv})
        # The manifest first: it is what config.yaml is checked against.
        manifest.record_config(config.to_dict(cfg))
        committer.save_manifest()
        if cfg != original:
            atomic.write_text(run.config, config.to_yaml(cfg))
        log(f"Resuming {run.root} from epoch {epoch} of {cfg.train.epochs}")
        return _fit_and_finish(model, cfg, data, committer, rows, log)


def _recorded_config(run: RunDir, manifest: Manifest) -> Config:
    """The run's config.yaml, refused if it no longer says what the manifest recorded when the run was set up."""
    current = config.load(run.config)
    if manifest.config is not None and not resume_checks.same_as_recorded(manifest.config, config.to_dict(current)):
        changed = ", ".join(resume_checks.diff_keys(manifest.config, config.to_dict(current))) or "its content"
        raise ConfigError(
            f"{run.config}: edited after the run started ({changed} differ from the config recorded in "
            "manifest.json); restore it, or start a new run with the new settings "
            "(only train.epochs may be extended, with --set train.epochs=N)"
        )
    return current


def _restore(committer: EpochCommitter, cfg: Config, num_examples: int, log: Console):
    """The model to continue from and its epoch; epoch 0 if the run was stopped before any commit."""
    if committer.manifest.checkpoints:
        return committer.restore(log)
    from mnist_cnn.models import build_model

    # Nothing was committed, so the exact continuation is the same seeded start as a new run.
    log("No epoch was completed before the interruption: starting again from epoch 0 with the run's seed.")
    model = build_model(cfg.model, cfg.seed)
    training.compile_model(model, cfg, num_examples)
    return model, 0


def _fit_and_finish(model, cfg: Config, data, committer: EpochCommitter, rows: list[dict], log: Console) -> Outcome:
    """Fit, then score the chosen checkpoint and write metrics, plots and the final manifest.

    Signals raise `Interrupted` for the whole of it (final scoring included), so however the session
    ends, the manifest says how and the run can be resumed where that makes sense.
    """
    run, manifest = committer.run, committer.manifest
    try:
        with interrupts.raising_on_signals():
            session = training.fit(model, cfg, data, committer, rows, log)
            if not session.rows:
                raise RunError("training produced no epochs")
            metrics, scored = _finish(cfg, data, committer, session, model)
            status = "stopped_early" if session.stop_reason else "completed"
            manifest.mark(status, stop_reason=session.stop_reason, finished_at=manifests.now(),
                          stopped_early={"stopped": bool(session.stop_reason), "epoch": session.rows[-1]["epoch"],
                                         "reason": session.stop_reason})  # fmt: skip
            committer.save_manifest()
    except RunMoved:
        raise  # nothing may be written: the run's folder is no longer where this session put it
    except interrupts.Interrupted as exc:
        _record_end(committer, log, "interrupted", interrupted_at=manifests.now(), signal=str(exc))
        log(f"Interrupted by {exc} after epoch {manifest.epochs_completed}; nothing of the partial epoch was kept.")
        log(f"Resume with: mnist-cnn train --resume {run.root}")
        raise
    except Diverged as exc:
        _record_end(committer, log, "diverged", failed_at=manifests.now(),
                    diverged={"epoch": exc.epoch, "reason": first_line(exc)})  # fmt: skip
        raise
    except BaseException as exc:
        _record_end(committer, log, "failed", failed_at=manifests.now(), error=f"{type(exc).__name__}: {exc}"[:500])
        if isinstance(exc, (OSError, CommitError)):
            log(f"Resume with: mnist-cnn train --resume {run.root}  (once the cause is fixed)")
        if isinstance(exc, OSError):
            raise RunError(f"{run.root}: {first_line(exc)}") from exc
        raise
    test = metrics["test"]
    log(f"Test accuracy {test['accuracy']:.4f}, loss {test['loss']:.4f} ({metrics['checkpoint']} checkpoint, "
        f"epoch {metrics['checkpoint_epoch']}); fit {metrics['fit_seconds']:.1f}s; run {run.root}")  # fmt: skip
    from mnist_cnn import export  # after the run is recorded complete: a failed export cannot undo it

    started = time.perf_counter()
    with interrupts.raising_on_signals():  # an interrupted export cleans up after itself; the run stays complete
        # The model, test arrays and manifest this process holds: nothing is read back from disk.
        trained = export.Trained(**scored, manifest=manifest, save_manifest=committer.save_manifest)
        export.export_after_training(run, list(dict.fromkeys(cfg.output.export)), log, trained)
    return Outcome(run, manifest.status, metrics, round(time.perf_counter() - started, 3))


def _record_end(committer: EpochCommitter, log: Console, status: str, **facts) -> None:
    """Record how the session ended; if even that cannot be written, say so and go on ending."""
    committer.manifest.mark(status, **facts)
    try:
        committer.save_manifest()
    except RunMoved as exc:
        log(f"Warning: could not record status '{status}': {exc}")
    except OSError as exc:
        log(f"Warning: could not record status '{status}' in manifest.json ({exc.strerror or exc})")


def _finish(cfg: Config, data, committer: EpochCommitter, session, trained) -> tuple[dict, dict]:
    """Score the chosen checkpoint's weights, write metrics.json and the plots; return the metrics and
    what was scored (model, checkpoint, test arrays, probabilities) for the end-of-training export."""
    run, manifest = committer.run, committer.manifest
    committer.check_home()  # before scoring writes metrics and plots into it
    which = cfg.train.checkpoint.use_for_test
    if which not in manifest.checkpoints:  # no epoch had the monitored metric: use the last
        which = "last"
    record = manifest.checkpoints[which]
    started = time.perf_counter()
    # Score exactly the weights the checkpoint file holds, so `evaluate` reproduces these numbers: the
    # model in memory when its weights hash equals the file's record (no reload), else the file itself.
    if weights_sha256(trained) == record.weights_sha256:
        model = trained
    else:
        # The manifest record this process holds (no re-read); the file is checked against its hash.
        model = modelfiles.load(modelfiles.ModelSource(record.path(run, which), run, which, record.sha256))
    images = scale(data.x_test)
    summary, probs = evaluate.score(model, images, data.y_test)
    metrics = {
        "checkpoint": which,
        "checkpoint_epoch": record.epoch,
        "checkpoint_sha256": record.sha256,
        "test": summary,
        "parameters": model.count_params(),
        "epochs": len(session.rows),
        "fit_seconds": round(sum(manifest.epoch_seconds), 3),
        "epoch_seconds": manifest.epoch_seconds,
        "evaluate_seconds": round(time.perf_counter() - started, 3),
    }
    atomic.write_json(run.metrics, metrics)
    if cfg.output.plots:
        plots.plot_history(session.rows, run.plot("history"))
        plots.plot_first_layer_filters(model, run.plot("filters"))  # the kernels the test metrics used
        evaluate.write_plots(run, data.x_test, data.y_test, probs, summary)
    scored = {"model": model, "checkpoint": which, "checkpoint_sha256": record.sha256, "images": images,
              "labels": data.y_test, "reference": probs}  # fmt: skip
    return metrics, scored
