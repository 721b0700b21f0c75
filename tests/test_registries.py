"""Every pluggable part is found through its registry, and says what it can do."""

from __future__ import annotations

import json

import pytest

from harness.backends import BACKENDS, get_backend
from harness.cli import main
from harness.commands import COMMANDS
from harness.datasets import DATASETS
from harness.engines import ENGINES, get_engine
from harness.errors import ConfigError
from harness.kinds import DType, Reference, Scheme
from harness.power.meter import METERS
from harness.registry import Registry
from harness.report.render import FORMATS


@pytest.mark.parametrize("registry", [ENGINES, BACKENDS, METERS, DATASETS, FORMATS, COMMANDS])
def test_every_member_loads(registry: Registry) -> None:
    for name in registry:
        assert registry.load(name) is not None, name


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown engine 'tvm'; known engines: native, qualia"):
        get_engine("tvm")
    with pytest.raises(ConfigError, match="unknown backend 'bochs'; known backends: qemu"):
        get_backend("bochs")


def test_engines_declare_what_they_can_do() -> None:
    native, qualia, tflm = get_engine("native"), get_engine("qualia"), get_engine("tflm")
    assert native.capabilities.integer_reference and tflm.capabilities.integer_reference
    assert not qualia.capabilities.integer_reference
    assert tflm.capabilities.host_interpreter and not native.capabilities.host_interpreter
    assert native.schemes("int8") == (Scheme.POT, Scheme.AFFINE)
    assert tflm.schemes("int8") == (Scheme.AFFINE,) and tflm.schemes("float32") == ()
    assert native.reference("int8") == Reference.INTEGER
    assert native.reference("float32") == qualia.reference("int8") == Reference.FLOAT
    with pytest.raises(ConfigError, match="engine tflm does not support dtype float32"):
        tflm.check_dtype("float32")
    assert native.check_dtype("int16") is DType.INT16


def test_backends_say_whether_they_emulate() -> None:
    assert get_backend("qemu").emulator and get_backend("renode").emulator
    assert not get_backend("probe").emulator and not get_backend("ambiq-uart").emulator


def test_boards_json_lists_each_backend_and_its_availability(
        capsys: pytest.CaptureFixture) -> None:
    assert main(["boards", "--json"]) == 0
    boards = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert set(boards) == {"stm32l452", "apollo3", "mps2-an386", "icebreaker"}
    assert boards["icebreaker"]["kind"] == "fpga" and boards["stm32l452"]["kind"] == "mcu"
    nucleo = boards["stm32l452"]
    assert nucleo["clock_hz"] == 80_000_000 and nucleo["part"] == "STM32L452RE"
    backends = {b["name"]: b for b in nucleo["backends"]}
    assert list(backends) == ["qemu", "probe", "renode"]
    assert backends["qemu"]["emulator"] is True
    assert all(isinstance(b["available"], bool) and b["detail"] for b in backends.values())


def test_boards_table_fits_80_columns(capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.commands import show

    monkeypatch.setattr(show.out, "width", 80)
    assert main(["boards"]) == 0
    text = capsys.readouterr().out
    table = [ln for ln in text.splitlines() if not ln.startswith("[")]
    assert max(len(ln) for ln in table) <= 80
    assert "…" not in text  # nothing cut
    assert "stm32l452" in text and "qemu" in text and "apollo3" in text
