"""Attacks (docs/lab.md, section 1): each kind is exactly its formula, over all attackers at once."""

from __future__ import annotations

import pytest
import torch

from fl_engine.attacks import ATTACKS, attacked

G = torch.tensor([1.0, 2.0])
M = torch.tensor([[2.0, 4.0], [0.0, 0.0], [1.0, 3.0]])  # three attackers' honest models


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sign_flip_scale_nan_free_ride_and_label_by_hand() -> None:
    assert torch.equal(
        attacked("sign_flip", G, M, generator=gen()),
        torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0]]),
    )
    assert torch.equal(
        attacked("scale", G, M, generator=gen()),
        torch.tensor([[11.0, 22.0], [-9.0, -18.0], [1.0, 12.0]]),
    )
    assert torch.equal(
        attacked("scale", G, M, scale=-2.0, generator=gen()),
        torch.tensor([[-1.0, -2.0], [3.0, 6.0], [1.0, 0.0]]),
    )
    assert bool(attacked("nan", G, M, generator=gen()).isnan().all())
    assert attacked("nan", G, M, generator=gen()).shape == (3, 2)
    assert torch.equal(attacked("free_ride", G, M, generator=gen()), G.repeat(3, 1))
    label = attacked("label", G, M, generator=gen())
    assert torch.equal(label, M)


def test_noise_is_gaussian_from_the_generator() -> None:
    sent = attacked("noise", G, M, noise_std=0.5, generator=gen(7))
    expected = M + 0.5 * torch.randn(M.shape, generator=gen(7))
    assert torch.equal(sent, expected)
    assert not torch.equal(sent, attacked("noise", G, M, noise_std=0.5, generator=gen(8)))
    assert torch.equal(attacked("noise", G, M, noise_std=0.0, generator=gen()), M)
    big = attacked(
        "noise", torch.zeros(4000), torch.zeros(50, 4000), noise_std=2.0, generator=gen()
    )
    assert abs(float(big.std()) - 2.0) < 0.02 and abs(float(big.mean())) < 0.02


@pytest.mark.parametrize("kind", ATTACKS)
def test_every_attack_returns_a_fresh_tensor(kind: str) -> None:
    models = M.clone()
    sent = attacked(kind, G, models, generator=gen())
    assert sent.shape == models.shape and sent.data_ptr() != models.data_ptr()
    sent.fill_(5.0)
    assert torch.equal(models, M)  # the honest models are untouched


def test_bad_kinds_and_shapes() -> None:
    with pytest.raises(ValueError, match="unknown attack 'backdoor'"):
        attacked("backdoor", G, M, generator=gen())
    with pytest.raises(ValueError, match="models must be"):
        attacked("scale", G, torch.zeros(3, 5), generator=gen())
    with pytest.raises(ValueError, match="noise_std"):
        attacked("noise", G, M, noise_std=-1.0, generator=gen())
