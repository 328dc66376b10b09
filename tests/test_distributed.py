"""The trainer under torchrun with DDP (2 CPU processes, gloo): ranks stay in sync and
only rank 0 writes files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from genlab.training.checkpoint import find_checkpoint, load_checkpoint
from genlab.utils.serialization import load_tensors


def test_ddp_two_processes(tmp_path):
    script = Path(__file__).parent / "scripts" / "ddp_train.py"
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    w0, w1 = load_tensors(tmp_path / "rank0.safetensors"), load_tensors(tmp_path / "rank1.safetensors")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)          # gradients were all-reduced
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [8]      # one writer: no duplicated rows
    _, meta = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert meta["step"] == 8
