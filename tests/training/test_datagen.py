"""conrt data make: shards + manifest, split per character, resume, determinism, bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError
from conrt.training.datagen import DataSpec, make_dataset, read_manifest, shard_name, split_of
from conrt.training.dataset import load_split

from .conftest import TINY


def test_manifest_and_shards(tiny_data):
    m = read_manifest(tiny_data)
    assert m["complete"] and m["num_shards"] == 2 and len(m["shards"]) == 2
    with np.load(tiny_data / shard_name(0)) as z:
        assert z["rgba"].shape == (2, 4, 64, 64, 4) and z["rgba"].dtype == np.uint8
        assert z["udp"].shape == (2, 4, 64, 64, 4) and z["udp"].dtype == np.float16
        rgba, udp = z["rgba"], z["udp"].astype(np.float32)
        assert list(z["seeds"]) == [3_000_000, 3_000_001]
    # toon and UDP from the same camera: identical coverage, straight alpha (0 or 255)
    assert ((rgba[..., 3] > 0) == (udp[..., 3] > 0.5)).mean() > 0.999
    assert set(np.unique(rgba[..., 3])) <= {0, 255}
    assert 0.02 < (rgba[..., 3] > 0).mean() < 0.6
    assert (udp[..., :3] >= 0).all() and (udp[..., :3] <= 1).all()
    # every pose seen from its own camera
    with np.load(tiny_data / shard_name(0)) as z:
        assert len(np.unique(z["cams"][0, :, 0])) == 4


def test_split_is_per_character(tiny_data):
    m = read_manifest(tiny_data)
    parts = [set(m["split"][k]) for k in ("train", "val", "test")]
    assert all(parts) and set.union(*parts) == {0, 1, 2}
    assert sum(map(len, parts)) == 3  # disjoint
    seeds = {k: {c.seed for c in load_split(tiny_data, k)} for k in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["test"]) and not (seeds["train"] & seeds["val"])
    big = split_of(DataSpec(characters=100, poses=4, size=64))
    assert len(big["test"]) == 5 and len(big["val"]) == 5 and len(big["train"]) == 90


def test_resume_skips_done_and_regenerates_identically(tiny_data, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(tiny_data, out)
    keep = (out / shard_name(0)).stat().st_mtime_ns
    original = dict(np.load(out / shard_name(1)))
    (out / shard_name(1)).unlink()
    m = make_dataset(out, TINY, progress=False)
    assert m["complete"]
    assert (out / shard_name(0)).stat().st_mtime_ns == keep  # finished shard skipped
    again = dict(np.load(out / shard_name(1)))
    for k in original:  # reproducible from the seed
        np.testing.assert_array_equal(again[k], original[k], err_msg=k)


def test_corrupt_shard_is_an_error_then_regenerated(tiny_data, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(tiny_data, out)
    train_char = read_manifest(out)["split"]["train"][0]
    (out / shard_name(train_char // TINY.shard_size)).write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="corrupt"):
        load_split(out, "train")
    make_dataset(out, TINY, progress=False)  # resume repairs it
    assert len(load_split(out, "train")) == 1


def test_bad_inputs(tmp_path, tiny_data):
    with pytest.raises(InputError, match="no such dataset"):
        read_manifest(tmp_path / "missing")
    with pytest.raises(InputError, match="manifest"):
        read_manifest(tmp_path)
    with pytest.raises(ConfigError):
        DataSpec(characters=0, poses=4, size=64).validate()
    with pytest.raises(ConfigError, match="poses"):
        DataSpec(characters=2, poses=1, size=64).validate()
    with pytest.raises(ConfigError, match="other parameters"):
        make_dataset(tiny_data, DataSpec(characters=3, poses=5, size=64, seed=3), progress=False)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(InputError, match="corrupt manifest"):
        read_manifest(tmp_path)


def test_cli_data_make(tmp_path, capsys):
    from conrt.cli import main

    out = tmp_path / "cli"
    assert main(["data", "make", "--characters", "1", "--poses", "2", "--size", "32", "-o", str(out),
                 "--val", "0", "--test", "0"]) == 0
    assert "1 characters x 2 poses" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["split"]["train"] == [0]


def test_styles_one_look_per_character_same_cameras(tmp_path, tiny_data, caplog):
    """--styles: each character in one of the looks, drawn from its own stream, so
    the poses, cameras and UDPs are those of the toon-only dataset."""
    styles = ("toon", "unlit", "thick-outline", "soft")
    spec = DataSpec(characters=3, poses=4, size=64, seed=3, shard_size=2, val=0.34, test=0.34, styles=styles)
    out = tmp_path / "styled"
    make_dataset(out, spec, progress=False)
    assert read_manifest(out)["spec"]["styles"] == list(styles)
    assert DataSpec.from_dict(read_manifest(out)["spec"]) == spec  # resumable
    drawn = []
    for i in range(TINY.num_shards):
        with np.load(out / shard_name(i)) as z, np.load(tiny_data / shard_name(i)) as ref:
            np.testing.assert_array_equal(z["udp"], ref["udp"])
            np.testing.assert_array_equal(z["cams"], ref["cams"])
            for k, s in enumerate(z["styles"]):
                drawn.append(styles[s])
                same = np.array_equal(z["rgba"][k], ref["rgba"][k])
                assert same == (styles[s] == "toon"), styles[s]
                # coverage never depends on the look
                np.testing.assert_array_equal(z["rgba"][k][..., 3] > 0, ref["rgba"][k][..., 3] > 0)
    assert [styles[spec.style_of(c)] for c in range(3)] == drawn
    assert len(set(drawn)) > 1
    with pytest.raises(ConfigError, match="--styles"):
        DataSpec(characters=2, poses=2, size=64, styles=("toon", "sketch")).validate()
    from conrt.cli import main

    assert main(["data", "make", "--characters", "1", "--poses", "2", "--size", "32", "-o", str(tmp_path / "bad"),
                 "--styles", "toon,pastel"]) == 1
    assert "pastel" in caplog.text and "thick-outline" in caplog.text


def test_antialiased_data_has_coverage_alpha(tmp_path):
    spec = DataSpec(characters=1, poses=2, size=32, seed=3, val=0, test=0, antialias=3)
    make_dataset(tmp_path / "aa", spec, progress=False)
    with np.load(tmp_path / "aa" / shard_name(0)) as z:
        a = z["udp"][..., 3].astype(np.float32)
        assert ((a > 0) & (a < 1)).any()  # soft silhouette
        np.testing.assert_array_equal(z["rgba"][..., 3] > 0, a > 0)
        np.testing.assert_allclose(z["rgba"][..., 3] / 255, a, atol=0.6 / 255 + 1e-3)
    with pytest.raises(ConfigError, match="antialias"):
        DataSpec(characters=1, poses=2, size=32, antialias=7).validate()
