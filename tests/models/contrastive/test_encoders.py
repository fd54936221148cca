import pytest
import torch

from behavenet.errors import ConfigError
from behavenet.models.contrastive.core import _sparse_pair
from behavenet.models.contrastive.encoders import (
    FrameConvEncoder,
    VideoEncoder,
    _FrameProjectGeluFn,
    _SkipBlockFn,
    architecture_info,
    list_architectures,
    make_encoder,
)

EXPECTED_RF = {
    "offset1": (0, 1),
    "offset5": (2, 3),
    "offset10": (5, 5),
    "offset36": (18, 18),
    "offset15": (7, 8),
    "offset20": (10, 10),
    "offset40": (20, 20),
    "offset50": (25, 25),
}


@pytest.mark.parametrize("name", list_architectures())
def test_receptive_field_exact_window_gives_one_output(name):
    enc = make_encoder(name, in_dim=7, hidden=8, out_dim=3)
    left, right = enc.receptive_field
    base = name.replace("-mse", "")
    assert (left, right) == EXPECTED_RF[base]
    rf = left + right
    out = enc(torch.randn(4, rf, 7))
    assert out.shape == (4, 3)
    longer = enc(torch.randn(2, rf + 5, 7))
    assert longer.shape == (2, 6, 3)
    if rf > 1:
        with pytest.raises(ValueError):
            enc(torch.randn(1, rf - 1, 7))
    assert architecture_info(name)


@pytest.mark.parametrize("name", ["offset1", "offset10", "offset1-mse", "offset10-mse"])
def test_normalisation(name):
    enc = make_encoder(name, 6, 8, 4)
    rf = sum(enc.receptive_field)
    norms = enc(torch.randn(16, rf, 6) * 5).norm(dim=-1)
    if name.endswith("-mse"):
        assert not torch.allclose(norms, torch.ones_like(norms))
    else:
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_cebra_aliases_and_unknown_name():
    assert "offset10-model" in list_architectures(include_aliases=True)
    a = make_encoder("offset10-model", 5, 8, 3)
    b = make_encoder("offset10", 5, 8, 3)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert sum(p.numel() for p in make_encoder("offset1-model-mse", 5, 8, 2).parameters()) > 0
    with pytest.raises(ConfigError) as err:
        make_encoder("offset11", 5, 8, 3)
    assert "\n" not in str(err.value) and "model_architecture" in str(err.value)


def test_fully_convolutional_matches_windows():
    torch.manual_seed(0)
    enc = make_encoder("offset10", 6, 8, 3)
    x = torch.randn(40, 6)
    with torch.no_grad():
        seq = enc(x[None])[0]  # (31, 3)
        win = enc(torch.stack([x[t - 5 : t + 5] for t in range(5, 36)]))
    assert torch.allclose(seq, win, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_forward_indexed_matches_windows_values_and_gradients(sparse):
    torch.manual_seed(0)
    enc = make_encoder("offset10", 12, 8, 4)
    data = (torch.rand(60, 12) < 0.1).float() * 3
    centers = torch.tensor([5, 6, 20, 33, 54, 54])
    pair = _sparse_pair(data) if sparse else None
    assert (pair is not None) == sparse
    y1 = enc.forward_indexed(data, centers, sparse=pair)
    y1.pow(2).sum().backward()
    g1 = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    windows = data[centers[:, None] + torch.arange(-5, 5)]
    y2 = enc(windows)
    y2.pow(2).sum().backward()
    g2 = [p.grad.clone() for p in enc.parameters()]
    assert torch.allclose(y1, y2, atol=1e-5)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-4)


def test_hand_written_backwards_pass_gradcheck():
    torch.manual_seed(0)
    a = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_SkipBlockFn.apply, (a, w, b))
    data = torch.randn(20, 5, dtype=torch.float64)
    flat = (torch.tensor([3, 9, 15])[:, None] + torch.arange(-2, 3)).reshape(-1)
    wm = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w_, b_: _FrameProjectGeluFn.apply(w_, b_, data, None, flat, 3), (wm, bias))


def test_video_encoder_frame_features_and_indexed_path():
    torch.manual_seed(0)
    fe = FrameConvEncoder((16, 16, 1), features=6)
    enc = VideoEncoder(fe, make_encoder("offset5", 6, 8, 3))
    frames = torch.randint(0, 255, (30, 16, 16, 1), dtype=torch.uint8)
    assert fe(frames[:4]).shape == (4, 6)
    centers = torch.tensor([2, 10, 26])
    with torch.no_grad():
        a = enc.forward_indexed(frames, centers)
        b = enc(frames[centers[:, None] + torch.arange(-2, 3)])
    assert a.shape == (3, 3)
    assert torch.allclose(a, b, atol=1e-5)
    chw = FrameConvEncoder((16, 16, 1), features=6, layout="CHW")
    chw.load_state_dict(fe.state_dict())
    with torch.no_grad():
        assert torch.allclose(chw(frames[:4].movedim(-1, 1)), fe(frames[:4]), atol=1e-6)


@pytest.mark.parametrize("name", ["offset5", "offset10", "offset36"])
def test_backward_under_bf16_autocast(name):
    """trainer=gpu trains in bf16-mixed: the fused autograd functions must not mix dtypes in the
    backward (they are bypassed under autocast); gradients stay close to the float32 ones."""
    torch.manual_seed(0)
    enc = make_encoder(name, in_dim=12, hidden=16, out_dim=4)
    data = torch.poisson(torch.full((300, 12), 0.3))
    centers = torch.arange(40, 240, 3)
    grads = {}
    for autocast in (False, True):
        enc.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = enc.forward_indexed(data, centers, sparse=_sparse_pair(data))
            out2 = enc(torch.stack([data[c - enc.left : c + enc.right] for c in centers[:8]]))
            loss = out.float().pow(2).sum() + out2.float().sum()
        loss.backward()
        grads[autocast] = torch.cat([p.grad.flatten() for p in enc.parameters()])
    assert torch.isfinite(grads[True]).all()
    cos = torch.nn.functional.cosine_similarity(grads[True], grads[False], dim=0)
    assert cos > 0.97, float(cos)
