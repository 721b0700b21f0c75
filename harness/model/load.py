"""Loading a user's model: ``path/to/file.py:factory`` (a function returning
a trained ``nn.Module`` with an ``input_shape``) or a ``torch.export`` .pt2
file; and ``load_graph``, the two steps from a model spec to the graph IR
(spiking models through harness/model/snn.py). Graph files that are not torch
models (``.nir``) have their own importer, chosen by suffix (``GRAPH_FILES``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from harness.errors import BenchError, ModelError
from harness.model.ir import Graph, Shape
from harness.model.lower import check_shape, import_graph
from harness.model.nir_import import load_nir
from harness.model.snn import spec_of, swap_neurons, verify_import, with_timesteps
from harness.model.snn_options import SnnOptions

# Model files read straight into the IR, by suffix: (path, snn options) -> Graph.
GRAPH_FILES: dict[str, Callable[[Path, SnnOptions], Graph]] = {".nir": load_nir}

# Attributes of a spiking model that may sit on the factory instead.
_SNN_ATTRS = ("timesteps", "readout", "encoding")


def load_model(spec: str) -> tuple[torch.nn.Module, Shape]:
    """Load ``path/to/file.py:factory`` or ``model.pt2``.

    Returns:
        (module, input_shape). For a ``.pt2`` the module is ``ep.module()``,
        an ATen GraphModule that ``import_graph`` walks as is.
    """
    if spec.endswith(".pt2") and ":" not in Path(spec).name:
        return _load_pt2(Path(spec))
    path_str, sep, factory_name = spec.rpartition(":")
    if not sep or not path_str.endswith(".py") or not factory_name:
        raise ModelError(
            f"model spec {spec!r} must be 'path/to/file.py:factory' or a torch.export '.pt2' file"
        )
    return _load_factory(Path(path_str), factory_name)


def _load_factory(path: Path, factory_name: str) -> tuple[torch.nn.Module, Shape]:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} not found")
    path = path.resolve()
    # A private module name per file: two model files may share a stem.
    mod_name = "bench_user_model_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses/pickle inside the file work; the directory is
    # on sys.path only while the file runs, for its sibling imports.
    sys.modules[mod_name] = module
    sys.path.insert(0, str(path.parent))
    # SpikingJelly registers Triton kernels on import; torch warns on stderr
    # that there is no Triton (a CPU machine needs none).
    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:  # a script's "exit if no GPU": bench must not exit silently
        sys.modules.pop(mod_name, None)
        raise ModelError(f"importing {str(path)!r} called sys.exit({e.code!r}): a model file "
                         f"must only define the model when imported") from e
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise ModelError(f"importing {str(path)!r} failed: {type(e).__name__}: {e}") from e
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            del sys.path[0]
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ModelError(f"{str(path)!r} has no callable {factory_name!r}")
    try:
        model = factory()
    except BenchError:
        raise  # already one line of its own (e.g. a training set that is not here)
    except SystemExit as e:
        raise ModelError(f"{factory_name}() in {path.name} called sys.exit({e.code!r}) "
                         f"instead of returning a model") from e
    except Exception as e:
        raise ModelError(f"{factory_name}() failed: {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module")
    for name in _SNN_ATTRS:
        if getattr(model, name, None) is None and getattr(factory, name, None) is not None:
            setattr(model, name, getattr(factory, name))
    shape = getattr(model, "input_shape", None)
    if shape is None:
        shape = getattr(factory, "input_shape", None)
    if shape is None:
        raise ModelError(
            f"{factory_name}() in {path.name}: set an 'input_shape' attribute (without the "
            "batch dim, e.g. (6, 128) or (1, 8, 8)) on the returned module or on the factory"
        )
    return model, check_shape(shape, f"{factory_name}().input_shape")


def _load_pt2(path: Path) -> tuple[torch.nn.Module, Shape]:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} not found")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"cannot load {path.name} with torch.export.load: it is not a zip "
                         f"file (truncated, or another format?); save models with "
                         f"torch.export.save")
    with _torch_log_caught("torch.export") as logged:
        try:
            ep = torch.export.load(str(path))
        except Exception as e:
            # torch's own message says "see the warnings above": give their cause instead
            causes = [r.exc_info[1] for r in logged if r.exc_info and r.exc_info[1]]
            why = e if not causes else causes[-1]
            first = str(why).strip().splitlines()[0] if str(why).strip() else ""
            raise ModelError(f"cannot load {path.name} with torch.export.load: "
                             f"{type(why).__name__}: {first}") from e
    user_inputs = list(ep.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise ModelError(f"{path.name}: the model takes {len(user_inputs)} inputs; bench needs one")
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"}
    val = vals.get(user_inputs[0])
    if not isinstance(val, torch.Tensor) or val.dim() < 2:
        raise ModelError(f"{path.name}: the input must be a tensor with a batch dimension")
    try:
        shape = tuple(int(d) for d in val.shape[1:])
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path.name}: only the batch dimension may be dynamic") from e
    return ep.module(), check_shape(shape, f"{path.name} input shape")



class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _torch_log_caught(name: str) -> Iterator[list[logging.LogRecord]]:
    """Keep a torch logger's records (torch.export.load logs a traceback as a
    warning before it raises) instead of printing them: bad input gets one
    line on stderr, bench's."""
    logger = logging.getLogger(name)
    handler = _Records()
    saved = logger.handlers[:], logger.propagate
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.handlers[:], logger.propagate = saved


def load_graph(spec: str, snn: SnnOptions | None = None) -> Graph:
    """A model spec (see load_model) imported as the graph IR; ``snn``: the
    command line's timesteps/readout/encoding for a spiking model."""
    importer = GRAPH_FILES.get(Path(spec).suffix.lower())
    if importer is not None:
        return importer(Path(spec), snn or SnnOptions())
    module, input_shape = load_model(spec)
    return import_model(module, input_shape, snn or SnnOptions())


def import_model(module: torch.nn.Module, input_shape: Shape, snn: SnnOptions) -> Graph:
    """``import_graph`` for any model: a spiking one has its neurons swapped
    for markers, gets T/readout/encoding, and is checked against its library."""
    if snn.dt is not None:
        raise ModelError("--dt discretises a NIR graph's continuous-time neurons; it applies "
                         "to .nir models only")
    swapped = swap_neurons(module) if isinstance(module, torch.nn.Module) else None
    if swapped is None:
        flags = {"kernels": "snn-kernels"}
        given = [f"--{flags.get(k, k)}" for k, v in vars(snn).items() if v is not None]
        if given:
            raise ModelError(f"{', '.join(given)} apply to spiking models; this model has no "
                             "spiking neurons")
        return import_graph(module, input_shape)
    timesteps, readout, encoding = spec_of(module, snn)
    graph = import_graph(swapped.module, input_shape, verify=False,
                         neurons=list(zip(swapped.paths, swapped.neurons, strict=True)))
    graph = with_timesteps(graph, timesteps, readout, encoding)
    verify_import(module, graph)
    return graph

