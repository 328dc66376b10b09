"""The model folder: ``config.json`` + ``model.safetensors`` + ``codec.json``.

Nothing here ever unpickles: tensors go through safetensors, everything else is
JSON. Every file is written atomically (temporary file in the same folder, then
``os.replace``), and ``config.json`` is written last with the sha256 of the other
files, so that a folder whose save was interrupted or whose files were altered is
reported as such instead of loading half-written weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.exceptions import CheckpointError

__all__ = [
    "FORMAT_VERSION",
    "atomic_write_bytes",
    "atomic_write_json",
    "save_tensors",
    "load_tensors",
    "sha256_file",
    "write_model_folder",
    "read_model_folder",
]

FORMAT_VERSION = 1
CONFIG, WEIGHTS, CODEC = "config.json", "model.safetensors", "codec.json"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _temp_in(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    tmp = _temp_in(path.parent, path.name)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor]) -> None:
    """Save a flat dict of tensors with safetensors, atomically (tensors are moved to CPU).

    Tensors that share memory (tied weights, e.g. a GPT's embedding and output head)
    are written as separate copies: safetensors refuses aliased tensors.
    """
    path = Path(path)
    tmp = _temp_in(path.parent, path.name)
    flat, seen = {}, set()
    for k, v in tensors.items():
        v = v.detach().cpu().contiguous()
        key = (v.untyped_storage().data_ptr(), v.storage_offset()) if v.numel() else None
        if key is not None and key in seen:
            v = v.clone()
        seen.add(key)
        flat[k] = v
    try:
        save_file(flat, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file, turning any failure into :class:`CheckpointError`."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing.") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err}).") from None


def write_model_folder(
    path: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    codec: dict[str, Any] | None,
) -> Path:
    """Write a model folder; other files already in it (a run's ``train_state/``...) are kept.

    ``config`` gets ``format_version`` and a ``files`` table of sha256 checksums.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / WEIGHTS, tensors)
    files = {WEIGHTS: sha256_file(folder / WEIGHTS)}
    if codec is not None:
        atomic_write_json(folder / CODEC, codec)
        files[CODEC] = sha256_file(folder / CODEC)
    elif (folder / CODEC).exists():
        (folder / CODEC).unlink()
    atomic_write_json(folder / CONFIG, {**config, "format_version": FORMAT_VERSION, "files": files})
    return folder


def read_model_folder(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict | None]:
    """Read and verify a model folder; returns ``(config, tensors, codec_json_or_None)``.

    Raises
    ------
    CheckpointError
        If the folder or a file is missing, a checksum does not match, the JSON is
        invalid, or the folder was written by a newer, incompatible genlab.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a model folder (it does not exist or is not a directory).")
    config = _read_json(folder / CONFIG)
    version = config.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{folder / CONFIG} has no format_version; it was not written by genlab.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{folder} was saved in model-folder format {version} by genlab "
            f"{config.get('genlab_version', '?')}; this genlab reads format {FORMAT_VERSION} and older. "
            "Upgrade genlab (pip install -U genlab)."
        )
    for name, digest in config.get("files", {}).items():
        if not (folder / name).exists():
            raise CheckpointError(f"{folder / name} is missing; the model folder is incomplete.")
        if sha256_file(folder / name) != digest:
            raise CheckpointError(
                f"{folder / name} does not match the checksum recorded in config.json: the file was "
                "changed or a save was interrupted. Save the model again or retrain it."
            )
    tensors = load_tensors(folder / WEIGHTS)
    codec = _read_json(folder / CODEC) if CODEC in config.get("files", {}) else None
    return config, tensors, codec


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; is {path.parent} a genlab model folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}).") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} must hold a JSON object.")
    return obj
