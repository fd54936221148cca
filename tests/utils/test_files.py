import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

from behavenet.utils.files import (
    atomic_path,
    atomic_write_text,
    default_file_mode,
    temp_path,
    write_json,
)


@pytest.fixture
def umask_027():
    """Run with umask 027, so the expected 0640 differs from both mkstemp's 0600 and 0644."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_default_file_mode_is_what_open_gives(tmp_path, umask_027):
    assert default_file_mode() == 0o666 & ~umask_027 == 0o640
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert _mode(tmp_path / "plain.txt") == default_file_mode()
    assert os.umask(0o027) == 0o027  # the umask is left as it was


def test_atomic_path_renames_on_success_with_the_plain_mode(tmp_path, umask_027):
    out = tmp_path / "out.bin"
    with atomic_path(out, suffix=".partial") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-out.bin.")
        assert tmp.suffix == ".partial"
        assert _mode(tmp) == 0o600  # mkstemp's
        tmp.write_bytes(b"new")
        assert not out.exists()
    assert out.read_bytes() == b"new" and _mode(out) == 0o640
    assert _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_leaves_nothing_on_error(tmp_path, error):
    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(error):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise error("stop")
    assert out.read_text() == "old" and _names(tmp_path) == ["out.txt"]


def test_temp_path_is_removed(tmp_path):
    with temp_path(tmp_path, suffix=".probe") as tmp:
        assert tmp.exists() and tmp.name.startswith(".tmp-")
    assert _names(tmp_path) == []
    with temp_path(tmp_path) as tmp:
        tmp.unlink()  # already gone is fine
    with pytest.raises(OSError):
        with temp_path(tmp_path / "missing"):
            pass


def test_text_and_json_helpers(tmp_path, umask_027):
    t = atomic_write_text(tmp_path / "a.csv", "x,y\r\n1,2\n")
    assert t.read_bytes() == b"x,y\r\n1,2\n" and _mode(t) == 0o640
    j = write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(2), "nan": math.nan, "p": tmp_path})
    assert j.read_text().endswith("}\n") and _mode(j) == 0o640
    got = json.loads(j.read_text())
    assert got["a"] == 0.5 and got["b"] == [0, 1] and math.isnan(got["nan"])
    assert got["p"] == str(tmp_path)  # anything else as its str()
    assert json.loads(write_json(j, {"nan": np.nan}, nan_to_none=True).read_text()) == {"nan": None}
    assert _names(tmp_path) == ["a.csv", "m.json"]


def test_embeddings_and_probe_plot_get_the_plain_mode(tmp_path, umask_027):
    from behavenet.embeddings import export_embeddings, load_embeddings
    from behavenet.eval.probes import plot_task_scores

    n = 6
    split = SimpleNamespace(
        fps=10.0,
        frame_index=np.arange(n),
        trial_index=np.zeros(n, dtype=int),
        labels={"y": np.arange(n, dtype=np.float32)},
        label_kinds={"y": "continuous"},
    )
    datamodule = SimpleNamespace(
        files=[str(tmp_path / "s.h5")], iter_full_sessions=lambda: iter([("s", split, ["train"] * n)])
    )
    model = SimpleNamespace(family="fake", embedding_dim=2, embed_split=lambda sp: np.ones((n, 2), dtype=np.float32))
    emb = export_embeddings(model, datamodule, tmp_path / "embeddings.h5")
    assert _mode(emb) == 0o640 and load_embeddings(emb)[0].embedding.shape == (n, 2)
    scores = {"t": {"metric": "f1", "ridge": 0.5, "knn": 0.4}}
    png = plot_task_scores(scores, tmp_path / "probes.png")
    assert _mode(png) == 0o640
    assert _names(tmp_path) == ["embeddings.h5", "probes.png"]
