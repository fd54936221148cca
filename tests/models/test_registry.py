"""The one registry: discovery of family packages, aliases, errors, light imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from behavenet.errors import ConfigError
from behavenet.models.registry import build_core, get_family, list_families


def test_families_aliases_and_errors():
    assert {"contrastive", "pca", "random_projection", "autoencoder"} <= set(list_families())
    assert list_families("contr*") == ["contrastive"]
    assert get_family("cebra") is get_family("contrastive") and get_family("random").name == "random_projection"
    with pytest.raises(ConfigError, match=r"unknown model family 'contrastiv' \(did you mean 'contrastive'\?\)"):
        get_family("contrastiv")
    core = build_core(
        "pca", {"output_dimension": 2, "window": 1}, {"input": "spikes", "input_shapes": [[4]], "labels": {}}
    )
    assert core.family == "pca" and core.embedding_dim == 2 and not core.trainable


def test_listing_imports_neither_torch_nor_lightning():
    code = (
        "import json, sys; from behavenet.models.registry import list_families, get_family; "
        "names = list_families(); [get_family(n).config_class for n in names]; "
        "print(json.dumps([m for m in ('torch', 'lightning', 'sklearn') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
