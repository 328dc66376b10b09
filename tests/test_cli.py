"""The genlab command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import genlab

GENLAB = [sys.executable, "-m", "genlab.cli"]


def run(*args, cwd=None):
    return subprocess.run([*GENLAB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=1200)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "runs" / "vae"
    res = run("train", "vae", "--data", "digits", "--out", out, "--max-steps", 40, "--latent-dim", 4,
              "--hidden-dims", "32,16", "--progress", "false", "--checkpoint-every", 20)
    assert res.returncode == 0, res.stderr
    return out


def test_list():
    res = run("list")
    assert res.returncode == 0
    assert "vae" in res.stdout and "digits" in res.stdout and "mnist" in res.stdout


def test_train_writes_a_run_folder(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"config.json", "model.safetensors", "codec.json", "metrics.jsonl", "train_state", "run.json",
            "samples"} <= names
    model = genlab.load(trained)
    assert model.get_params()["latent_dim"] == 4 and model.get_params()["hidden_dims"] == (32, 16)
    assert json.loads((trained / "run.json").read_text())["training"]["max_steps"] == 40


def test_sample_png_and_npy(trained, tmp_path):
    res = run("sample", trained, "-n", 16, "--seed", 0, "--out", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr
    from PIL import Image

    with Image.open(tmp_path / "s.png") as im:
        assert im.size[0] > 0
    assert run("sample", trained, "-n", 8, "--out", tmp_path / "a.npy").returncode == 0
    assert run("sample", trained, "-n", 8, "--out", tmp_path / "b.npy").returncode == 0
    import numpy as np

    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (8, 1, 8, 8) and (a == b).all()     # default seed 0: the same samples


def test_evaluate_json(trained):
    res = run("evaluate", trained, "--data", "digits", "--json", "--n-samples", 10)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["likelihood"] == "lower_bound" and report["units"] == "discrete"
    assert report["n"] == len(genlab.datasets.load("digits").test)
    assert report["bits_per_dim"] == pytest.approx(report["nll_nats"] / (64 * 0.6931471805599453))


@pytest.mark.parametrize("data,n_modes", [("ring8", 8), ("grid25", 25)])
def test_train_gan_on_a_mixture_and_evaluate_its_modes(tmp_path, data, n_modes):
    out = tmp_path / "gan"
    res = run("train", "gan", "--data", data, "--out", out, "--max-steps", 20, "--latent-dim", 2,
              "--architecture", "mlp", "--hidden-dims", "32,32", "--progress", "false")
    assert res.returncode == 0, res.stderr
    res = run("evaluate", out, "--data", data, "--n-samples", 500)
    assert res.returncode == 2 and "no log_prob" in res.stderr and "--samples" in res.stderr
    res = run("evaluate", out, "--data", data, "--json", "--samples", 500)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["likelihood"] is None and "no density" in report["log_prob_error"]
    assert report["n_modes"] == n_modes and 0 <= report["modes_captured"] <= n_modes
    assert 0 <= report["high_quality_fraction"] <= 1
    # 20 steps may capture no mode at all: then the mode histogram, and its KL, is undefined
    assert report["reverse_kl"] >= 0 if report["modes_captured"] else report["reverse_kl"] != report["reverse_kl"]


def test_info(trained):
    res = run("info", trained, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["class"] == "VAE" and info["parameters"] > 0 and info["codec"]["levels"] == 17


@pytest.mark.parametrize("args,needle", [
    (["train", "vae", "--data", "digits", "--out", "x", "--bogus", "1"], "unrecognized arguments: --bogus"),
    (["train", "vae", "--data", "digits", "--out", "x", "--latent-dim", "abc"], "invalid int value"),
    (["train", "vae", "--data", "digits", "--out", "x", "--latent-dim", "-2"], "'latent_dim'"),
    (["train", "vae", "--data", "digits", "--out", "x", "--decoder", "poisson"], "'decoder'"),
    (["train", "nosuchmodel", "--data", "digits", "--out", "x"], "unknown model"),
    (["train", "vae", "--data", "nosuchdata", "--out", "x"], "unknown dataset"),
    (["train", "vae", "--data", "/no/such/file.csv", "--out", "x"], "/no/such/file.csv"),
    (["sample", "/no/such/run", "--out", "x.png"], "/no/such/run"),
    (["evaluate"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_mistakes_print_one_line_and_exit_2(args, needle, tmp_path):
    res = run(*args, cwd=tmp_path)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert needle in lines[0]


def test_train_help_lists_every_flag():
    res = run("train", "vae", "--help")
    assert res.returncode == 0
    for name in list(genlab.models.VAE.param_defaults()) + ["max_steps", "batch_size", "precision", "resume"]:
        assert "--" + name.replace("_", "-") in res.stdout


def test_demo_quick(tmp_path):
    res = run("demo", "--out", tmp_path / "report", "--quick", "--no-progress")
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    assert "vae" in html and "bits/dim" in html and "genlab train vae" in html
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    rows = {r["model"]: r for r in results["rows"]}
    demo_families = {name for name in genlab.available()
                     if genlab.models.get_class(name).demo and "image" in genlab.models.get_class(name).modalities}
    assert {"bayesnet", "gan", "gpt", "hmm", "vae"} <= set(rows) == demo_families
    assert rows["gan"]["bits_per_dim"] is None and rows["gan"]["fd"] > 0          # no likelihood; sample metrics
    assert all(r["bits_per_dim"] > 0 for name, r in rows.items() if name != "gan")
    assert rows["hmm"]["likelihood"] == "exact" and rows["hmm"]["units"] == "discrete"
    assert "genlab train hmm --data digits" in html
    for name in rows:
        assert (tmp_path / "report" / f"{name}_samples.png").exists()
        assert (tmp_path / "report" / f"{name}_loss.png").exists() == (name != "bayesnet")


def test_gpt_train_and_sample_text_from_the_command_line(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text("ROMEO: but soft, what light through yonder window breaks?\n" * 40)
    out = tmp_path / "gpt"
    res = run("train", "gpt", "--data", text, "--out", out, "--max-steps", 10, "--n-layer", 1, "--n-embd", 16,
              "--n-head", 2, "--context-length", 32, "--progress", "false")
    assert res.returncode == 0, res.stderr
    res = run("sample", out, "--prompt", "ROMEO:", "--max-new-tokens", 20, "--top-k", 5, "--seed", 1)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ROMEO:") and len(res.stdout.rstrip("\n")) == len("ROMEO:") + 20
    res = run("sample", out, "--prompt", "ROMEO: 💥")
    assert res.returncode == 2 and "'💥'" in res.stderr
    res = run("sample", out, "--steps", 10)
    assert res.returncode == 2 and "--steps does not apply to GPT" in res.stderr


def test_translator_train_and_translate_from_the_command_line(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    en = ["A man rides a horse.", "Two dogs play.", "A girl reads a book."] * 4
    de = ["Ein Mann reitet ein Pferd.", "Zwei Hunde spielen.", "Ein Mädchen liest ein Buch."] * 4
    for split in ("train", "val", "test_2016_flickr"):
        (folder / f"{split}.en").write_text("\n".join(en) + "\n")
        (folder / f"{split}.de").write_text("\n".join(de) + "\n")
    out = tmp_path / "tr"
    res = run("train", "translator", "--data", folder, "--source", "en", "--target", "de", "--out", out,
              "--max-steps", 3, "--n-layer", 1, "--n-embd", 16, "--n-head", 2)
    assert res.returncode == 0, res.stderr
    res = run("translate", out, "A man rides a horse.", "--beam-size", 2)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1
