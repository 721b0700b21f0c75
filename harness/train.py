"""Small, deterministic training for the demo and the examples, and a cache
of what it trained.

``trained(name, build, recipe)`` is how an example factory returns a model
trained on its real dataset: the first call trains (seeded, on CPU), saves
the weights under the user's cache directory and returns the model; later
calls load them. The file's key is a hash of the training data (the
dataset's arrays), the architecture (the module's structure and its class's
source) and the recipe (objective, epochs, learning rate, batch, seed) plus
the training loop's source, so a change to any of them trains anew.

Where: ``$BENCH_MODEL_CACHE``, else ``$XDG_CACHE_HOME/bench/models``, else
``~/.cache/bench/models`` (paths.model_cache_root). ``BENCH_TRAIN_EPOCHS=N``
overrides every recipe's epochs (a quick check; part of the key, so it never
replaces a full training's weights).
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.datasets import Dataset, load_dataset
from harness.errors import ConfigError
from harness.paths import model_cache_root

EPOCHS_VAR = "BENCH_TRAIN_EPOCHS"


class Objective(StrEnum):
    """What a model is trained to output."""

    CLASSIFY = "classify"  # class logits: cross-entropy against the labels
    RECONSTRUCT = "reconstruct"  # its own input (an autoencoder): MSE against x
    REGRESS = "regress"  # the dataset's targets (e.g. clean images): MSE against y


@dataclass(frozen=True)
class Recipe:
    """How an example is trained; every field is part of the cache key.

    Args:
        dataset: the training split, as ``--dataset`` takes it (``uci-har:train``).
        objective: classify, reconstruct or regress.
        epochs: passes over the training split (Adam, cosine learning-rate decay).
        lr: Adam's initial learning rate.
        batch: samples per step.
        seed: torch's seed for the initial weights' shuffling and dropout.
        timesteps: a spiking model (the network for one timestep) is trained
            unrolled over this many steps, its state reset per batch, the
            loss on its readout (snnTorch/SpikingJelly surrogate gradients).
    """

    dataset: str
    objective: Objective = Objective.CLASSIFY
    epochs: int = 30
    lr: float = 3e-3
    batch: int = 64
    seed: int = 0
    timesteps: int | None = None


def _steps(model: nn.Module, x: np.ndarray, target: np.ndarray, loss_fn: nn.Module,
           epochs: int, lr: float, batch: int, seed: int) -> nn.Module:
    """Adam + cosine decay on CPU, seeded; returns the model in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.ascontiguousarray(target))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch):
            idx = order[start:start + batch]
            if len(idx) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                    for m in model.modules()):
                continue  # BatchNorm cannot train on one sample
            opt.zero_grad()
            out = model(xt[idx])
            if yt.dtype != torch.int64:  # MSE: outputs and targets, one row per sample
                out = out.reshape(len(idx), -1)
            loss_fn(out, yt[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def train_classifier(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 30,
                     lr: float = 3e-3, batch: int = 64, seed: int = 0) -> nn.Module:
    """Adam + cross-entropy on CPU; returns the model in eval mode."""
    return _steps(model, x, np.asarray(y, dtype=np.int64), nn.CrossEntropyLoss(), epochs, lr,
                  batch, seed)


class Unrolled(nn.Module):
    """A one-timestep spiking network run for T steps the way bench runs it:
    every neuron's state reset first, the steps' outputs summed
    (spike_count readout) or averaged (output_mean)."""

    def __init__(self, net: nn.Module, timesteps: int, readout: str) -> None:
        super().__init__()
        self.net, self.timesteps, self.readout = net, timesteps, readout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from harness.model.snn import reset_library_state

        reset_library_state(self.net)
        total: torch.Tensor | None = None
        for _ in range(self.timesteps):
            out = self.net(x)
            step = out[0] if isinstance(out, (tuple, list)) else out
            total = step if total is None else total + step
        assert total is not None
        return total / self.timesteps if self.readout == "output_mean" else total


def train(model: nn.Module, data: Dataset, recipe: Recipe) -> nn.Module:
    """One recipe on one dataset's arrays."""
    if recipe.timesteps is not None:
        readout = getattr(model, "readout", None) or "spike_count"
        unrolled = Unrolled(model, recipe.timesteps, readout)
        train(unrolled, data, replace(recipe, timesteps=None))
        from harness.model.snn import reset_library_state

        reset_library_state(model)
        return model.eval()
    if recipe.objective == Objective.CLASSIFY:
        return train_classifier(model, data.x, data.y, recipe.epochs, recipe.lr, recipe.batch,
                                recipe.seed)
    target = data.x if recipe.objective == Objective.RECONSTRUCT else data.y
    flat = np.ascontiguousarray(target, dtype=np.float32).reshape(len(target), -1)
    return _steps(model, data.x, flat, nn.MSELoss(), recipe.epochs, recipe.lr, recipe.batch,
                  recipe.seed)


# The training loop as code, part of every cache key: a changed loop trains anew.
LOOP_SOURCE = "".join(inspect.getsource(f) for f in (_steps, train_classifier, train, Unrolled))


def random_batchnorm(model: nn.Module) -> nn.Module:
    """An untrained model with non-trivial BatchNorm statistics, drawn from
    torch's generator (the caller seeds it), in eval mode: so folding the
    normalisation into the conv/linear before it changes something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n) * 0.2)
                m.running_var.copy_(torch.rand(n) + 0.5)
                m.weight.data.copy_(torch.rand(n) + 0.5)
                m.bias.data.copy_(torch.randn(n) * 0.2)
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).argmax(1)
    return float((pred.numpy() == y).mean())


def architecture_text(model: nn.Module) -> str:
    """The module tree and its class's source (the forward pass is code, not structure)."""
    try:
        source = inspect.getsource(type(model))
    except (OSError, TypeError):
        source = ""
    return repr(model) + "\n" + source


def cache_key(data: Dataset, model: nn.Module, recipe: Recipe) -> str:
    h = hashlib.sha256()
    for part in (data.hash, architecture_text(model), json.dumps(asdict(recipe), sort_keys=True),
                 LOOP_SOURCE):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def effective(recipe: Recipe) -> Recipe:
    """The recipe with ``BENCH_TRAIN_EPOCHS`` applied."""
    text = os.environ.get(EPOCHS_VAR)
    if not text:
        return recipe
    try:
        epochs = int(text)
    except ValueError:
        raise ConfigError(f"{EPOCHS_VAR} must be a whole number of epochs, not {text!r}") from None
    if epochs < 0:
        raise ConfigError(f"{EPOCHS_VAR} must be 0 or more, got {epochs}")
    return replace(recipe, epochs=epochs)


def trained(name: str, build: Callable[[Dataset], nn.Module], recipe: Recipe,
            cache: Path | None = None, log: Callable[[str], None] | None = None) -> nn.Module:
    """``build(training data)`` trained by ``recipe``, from the cache when it
    has these weights, else trained now and cached (written atomically: two
    processes training at once both end with the same file)."""
    recipe = effective(recipe)
    data = load_dataset(recipe.dataset)
    model = build(data)
    key = cache_key(data, model, recipe)
    folder = cache or model_cache_root()
    path = folder / f"{name}-{key[:16]}.pt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / f".{path.name}.lock", "w")  # held while training
    except OSError:
        lock = None  # a read-only cache: train without one
    try:
        if lock is not None:  # one process trains, others (a sweep's workers) wait for it
            fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            try:
                model.load_state_dict(torch.load(path, weights_only=True))
                return model.eval()
            except (OSError, RuntimeError, EOFError):
                pass  # damaged: train again and replace it
        (log or _stderr)(f"bench: training {name} on {recipe.dataset} ({recipe.epochs} epochs, "
                         f"once; cached in {folder})")
        started = time.monotonic()
        model = train(model, data, recipe)
        meta = {"name": name, "key": key, **asdict(recipe), "train_samples": len(data),
                "seconds": round(time.monotonic() - started, 1)}
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".pt.tmp")
            with os.fdopen(fd, "wb") as f:
                torch.save(model.state_dict(), f)
            os.replace(tmp, path)
            path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
        except OSError:
            pass  # a read-only cache: the model is still trained
        return model
    finally:
        if lock is not None:
            lock.close()


def _stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr, flush=True)
