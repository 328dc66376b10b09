"""Feature extractors for sample-quality metrics, named by a hash of their weights.

Fréchet and kernel distances, precision/recall and density/coverage compare feature
vectors, so a figure means something only together with the exact network that made the
features. Inception features do not fit 8x8 digits or 28x28 MNIST (and need a download),
so genlab trains one small classifier per dataset on its labelled training split, once,
and caches it. ``FeatureExtractor.id`` is the dataset name plus the first 12 hex digits
of the sha256 of the saved weights: every report carries it, and
:func:`check_same_extractor` refuses to put figures from different extractors side by side.

Users can bring their own extractor: a folder written by :meth:`FeatureExtractor.save`
(safetensors + JSON; nothing is unpickled).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genlab.data.base import Split
from genlab.exceptions import CheckpointError, DataError, InvalidParameterError

__all__ = ["FeatureExtractor", "check_same_extractor", "extractor_for", "train_extractor"]

FEATURE_DIM = 64


class _ConvNet(nn.Module):
    """Two conv blocks, global average pooling, a 64-D feature layer, a linear classifier."""

    def __init__(self, channels: int, n_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(8 * width, FEATURE_DIM), nn.GELU(),
        )
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class FeatureExtractor:
    """A trained classifier whose penultimate layer gives 64-D features of images in [0, 1].

    Attributes
    ----------
    id : str
        ``"<dataset>-<sha256 of the weights, 12 hex digits>"``; changes whenever the weights do.
    accuracy : float
        Test accuracy measured when it was trained (NaN if unknown).
    """

    def __init__(self, net: _ConvNet, meta: dict[str, Any]):
        self.net = net.eval()
        self.meta = dict(meta)
        self.id = f"{meta['dataset']}-{weights_hash(net)[:12]}"

    @property
    def accuracy(self) -> float:
        return float(self.meta.get("test_accuracy", float("nan")))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        shape = tuple(self.meta["image_shape"])
        if x.ndim == 3 and shape[0] == 1:
            x = x.unsqueeze(1)
        if tuple(x.shape[1:]) != shape:
            raise DataError(f"the feature extractor {self.id} takes images of shape {shape}; got {tuple(x.shape[1:])}.")
        return x

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """(N, C, H, W) images in [0, 1] -> (N, 64) float32 features."""
        x = self._check(x)
        return torch.cat([self.net.body(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else \
            torch.zeros(0, FEATURE_DIM)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Predicted class of each image, int64 (N,)."""
        x = self._check(x)
        return torch.cat([self.net(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(path / "weights.safetensors"))
        (path / "extractor.json").write_text(json.dumps({**self.meta, "id": self.id}, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureExtractor:
        path = Path(path)
        try:
            meta = json.loads((path / "extractor.json").read_text())
            net = _ConvNet(meta["image_shape"][0], meta["n_classes"], meta.get("width", 32))
            net.load_state_dict(load_file(str(path / "weights.safetensors")))
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{path} is not a genlab feature extractor folder ({err}).") from None
        out = cls(net, meta)
        if "id" in meta and meta["id"] != out.id:
            raise CheckpointError(f"{path}: the weights' hash gives {out.id}, but extractor.json says {meta['id']}; "
                                  "the files were changed.")
        return out


def weights_hash(net: nn.Module) -> str:
    """sha256 over the parameter names, shapes and float32 bytes, in order."""
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def train_extractor(train: Split, test: Split | None, dataset: str, *, steps: int = 600, seed: int = 0,
                    batch_size: int = 128, lr: float = 2e-3) -> FeatureExtractor:
    """Train the classifier on a labelled image split (deterministic for a given seed)."""
    if train.y is None:
        raise DataError(f"{dataset}: the feature extractor is a classifier and needs labels.")
    x, y = train.x.float(), train.y
    n_classes = int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _ConvNet(x.shape[1], n_classes)
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        g = torch.Generator().manual_seed(seed)
        net.train()
        for step in range(steps):
            idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=g)
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + torch.cos(torch.tensor(step / steps * torch.pi))).item()
            opt.step()
    net.eval()
    meta = {"dataset": dataset, "image_shape": list(x.shape[1:]), "n_classes": n_classes, "width": 32,
            "steps": steps, "seed": seed, "n_train": len(x)}
    extractor = FeatureExtractor(net, meta)
    if test is not None and test.y is not None:
        extractor.meta["test_accuracy"] = float((extractor.predict(test.x) == test.y).float().mean())
    return extractor


def _cache_root() -> Path:
    return Path(os.environ.get("GENLAB_DATA") or Path.home() / ".cache" / "genlab") / "extractors"


def extractor_for(data: Any, dataset: str, *, path: str | os.PathLike | None = None,
                  cache: bool = True) -> FeatureExtractor:
    """The extractor for a dataset: ``path`` if given, else the cached one trained on
    ``data.train`` (keyed by a hash of the training images and labels), else train and cache it."""
    if path is not None:
        return FeatureExtractor.load(path)
    train = data.train
    if train.y is None or train.x.ndim != 4:
        raise InvalidParameterError(f"{dataset}: sample-quality features need labelled images; "
                                    "give an extractor folder (extractor=...) instead.")
    key = hashlib.sha256(train.x.float().numpy().tobytes() + train.y.numpy().tobytes()).hexdigest()[:16]
    folder = _cache_root() / f"{dataset}-{key}"
    if cache and (folder / "extractor.json").exists():
        try:
            return FeatureExtractor.load(folder)
        except CheckpointError:
            pass                                              # a broken cache entry is retrained
    extractor = train_extractor(train, data.test, dataset)
    if cache:
        try:
            extractor.save(folder)
        except OSError:
            pass                                              # a read-only cache only costs time
    return extractor


def check_same_extractor(reports: list[dict[str, Any]]) -> str | None:
    """The one extractor id shared by ``reports`` (None if none has sample metrics).

    Raises
    ------
    InvalidParameterError
        If the reports' sample-quality figures come from different extractors.
    """
    ids = {r.get("extractor") for r in reports if r.get("extractor") is not None}
    if len(ids) > 1:
        raise InvalidParameterError(f"these figures come from different feature extractors {sorted(ids)}; "
                                    "Fréchet/kernel distances and precision/recall are only comparable with one.")
    return next(iter(ids), None)
