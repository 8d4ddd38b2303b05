"""The notebooks in notebooks/: stored without outputs, and executed by a real Jupyter kernel (smoke size)."""

from __future__ import annotations

import time

import nbformat
import pytest

from conftest import ROOT, cli_subprocess_env

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"


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
