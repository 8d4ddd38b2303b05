"""The notebooks in notebooks/: stored without outputs, and executed by a real Jupyter kernel (smoke size)."""

from __future__ import annotations

import time

import nbformat
import pytest

from conftest import ROOT, cli_subprocess_env

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
EPOCHS = 5  # of the interrupted training: four synthetic epochs (seconds) left for the interrupt to land in


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert NOTEBOOKS, "notebooks/ has no notebook"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
        assert nb.metadata.kernelspec.name == KERNEL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke_size(path, tmp_path, monkeypatch, mnist):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbclient import NotebookClient

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no Jupyter kernel '{KERNEL}': pip install ipykernel (python -m ipykernel install --user)")
    # The kernel inherits this environment: this checkout's package, the smoke size, outputs under tmp_path.
    for key, value in cli_subprocess_env(MNIST_CNN_NOTEBOOK_SIZE="smoke", MNIST_CNN_NOTEBOOK_DIR=str(tmp_path)).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    # The notebook's last cell asserts on what it produced; a failing cell raises CellExecutionError here.
    NotebookClient(nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: executed in {time.perf_counter() - started:.1f} s")
    assert any(out.get("name") == "stdout" and "Epoch 1/" in out.get("text", "") for out in nb.cells[3].outputs)
    assert (tmp_path / "runs").is_dir() and (tmp_path / "sweeps").is_dir()


@pytest.mark.smoke  # a kernel process that trains
def test_interrupting_the_kernel_leaves_the_run_interrupted_and_the_kernel_alive(tmp_path, monkeypatch):
    """Jupyter's "interrupt kernel" (SIGINT to the kernel) during `mc.train`: the cell fails with
    KeyboardInterrupt, the run is `interrupted`, and the same kernel then resumes it to the end.

    The kernel trains on the synthetic digits (tests/synthetic.py): short epochs, the same interrupt."""
    from jupyter_client.manager import start_new_kernel

    for key, value in cli_subprocess_env(synthetic=True).items():
        monkeypatch.setenv(key, value)
    runs = tmp_path / "runs"
    km, kc = start_new_kernel(kernel_name=KERNEL, cwd=str(tmp_path))
    try:
        request = kc.execute(
            "import mnist_cnn as mc\n"
            f"mc.train({str(ROOT / 'configs' / 'smoke.yaml')!r}, {{'train.epochs': {EPOCHS}}}, runs_dir={str(runs)!r})"
        )
        seen, reply_status, error = "", None, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
            if msg["parent_header"].get("msg_id") != request:
                continue  # start-up and interrupt requests have their own status messages
            if msg["msg_type"] == "stream":
                seen += msg["content"]["text"]
                if f"Epoch 1/{EPOCHS}" in seen and "interrupted" not in seen:
                    km.interrupt_kernel()
                    seen += "interrupted"
            elif msg["msg_type"] == "error":
                error = msg["content"]["ename"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                reply = kc.get_shell_msg(timeout=30)
                while reply["parent_header"].get("msg_id") != request:
                    reply = kc.get_shell_msg(timeout=30)
                reply_status = reply["content"]["status"]
                break
        assert "interrupted" in seen, f"training never printed its first epoch: {seen[-500:]}"
        assert reply_status == "error" and error == "KeyboardInterrupt"
        assert "In Python: mnist_cnn.open_run(" in seen
        outputs: list[str] = []

        def collect(msg) -> None:
            if msg["msg_type"] == "stream":
                outputs.append(msg["content"]["text"])

        reply = kc.execute_interactive(
            f"run = mc.latest_run({str(runs)!r}, finished=False)\n"
            "before = (run.status, run.epochs)\nrun.resume(verbose=False)\nprint(before, run.status, run.epochs)",
            timeout=300,
            output_hook=collect,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        before, after = "".join(outputs).strip().rsplit(") ", 1)
        assert before.startswith("('interrupted', ") and after == f"completed {EPOCHS}"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
