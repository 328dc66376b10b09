"""Training checkpoints for exact resume: ``<run>/train_state/``.

A checkpoint holds the module's weights, the optimiser's moments, the EMA weights,
the training random generator's state and the step: everything needed for a
resumed run to reach bit-identical weights (on the CPU) to an uninterrupted one.
Tensors go to ``state.safetensors``, the rest to ``state.json``; nothing is pickled.

Writing is crash-safe: the new checkpoint is written to a temporary folder, the
old one is renamed to ``train_state.old``, the new one renamed into place, and
only then is the old one deleted. A reader that finds no ``train_state`` falls
back to ``train_state.old``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from genlab.exceptions import CheckpointError
from genlab.utils.serialization import atomic_write_json, load_tensors, save_tensors

__all__ = ["save_checkpoint", "load_checkpoint", "find_checkpoint", "optimizer_to_flat", "optimizer_from_flat"]

STATE_DIR = "train_state"


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's ``state_dict`` into flat tensors and JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = val
            else:
                scalars[f"{pid}.{key}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = val
    for name, val in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = val
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(run_dir: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``<run_dir>/train_state`` crash-safely (see the module docstring)."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    final, old = run / STATE_DIR, run / f"{STATE_DIR}.old"
    tmp = Path(tempfile.mkdtemp(prefix=f".{STATE_DIR}.", dir=run))
    try:
        save_tensors(tmp / "state.safetensors", tensors)
        atomic_write_json(tmp / "state.json", meta)
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder in ``run_dir``, or ``None``."""
    run = Path(run_dir)
    for cand in (run / STATE_DIR, run / f"{STATE_DIR}.old"):
        if (cand / "state.json").exists() and (cand / "state.safetensors").exists():
            return cand
    return None


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint folder written by :func:`save_checkpoint`."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{folder}/state.json is unreadable ({err}); delete {folder} to start afresh.") from None
    return load_tensors(folder / "state.safetensors"), meta
