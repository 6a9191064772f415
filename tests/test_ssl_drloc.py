"""DRLoc loss: sampled pairs, the three target definitions on a hand-checked grid, the loss against
a loop oracle, zero for a perfect predictor, decreasing when the head alone trains, λ schedule, errors."""

import pytest
import torch
from torch import nn

from ai4m_kit.ssl.drloc import (DRLocHead, check_grid, constant_predictor_loss, drloc_loss, lambda_at, pair_embeddings,
                                pair_targets, sample_pairs)


def coordinate_grid(b: int, k: int) -> torch.Tensor:
    """Channel 0 holds the row, channel 1 the column, channel 2 the image index."""
    rows, cols = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    g = torch.stack([rows, cols, torch.zeros_like(rows)]).float()[None].repeat(b, 1, 1, 1)
    g[:, 2] = torch.arange(b, dtype=torch.float32)[:, None, None]
    return g


class PerfectHead(nn.Module):
    """Reads the coordinates back from the concatenated embeddings and returns the exact target."""

    def __init__(self, k: int, target: str):
        super().__init__()
        self.k, self.target = k, target

    def forward(self, pairs):
        first, second = pairs[..., 0:2].round().long(), pairs[..., 3:5].round().long()
        return pair_targets(first, second, self.k, self.target)


def test_sampled_pairs_are_four_seeded_uniform_draws_with_replacement():
    first, second = sample_pairs(3, 5, 400, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    oracle = [torch.randint(5, (3, 400), generator=g) for _ in range(4)]
    assert torch.equal(first, torch.stack(oracle[:2], -1)) and torch.equal(second, torch.stack(oracle[2:], -1))
    assert first.shape == second.shape == (3, 400, 2) and first.dtype == torch.int64
    assert int(first.min()) == 0 and int(second.max()) == 4
    cells = first[0, :, 0] * 5 + first[0, :, 1]
    assert len(torch.unique(cells)) == 25  # every cell is drawn
    assert (first == second).all(-1).any()  # with replacement: a pair may join a cell to itself
    again = sample_pairs(3, 5, 400, torch.Generator().manual_seed(7))
    assert torch.equal(again[0], first)


def test_targets_on_a_hand_checked_grid():
    first = torch.tensor([[[0, 0], [2, 1], [1, 2]]])
    second = torch.tensor([[[2, 2], [0, 1], [1, 2]]])
    assert pair_targets(first, second, 3, "abs").tolist() == [[[2.0, 2.0], [2.0, 0.0], [0.0, 0.0]]]
    assert pair_targets(first, second, 3, "signed").tolist() == [[[-2.0, -2.0], [2.0, 0.0], [0.0, 0.0]]]
    norm = pair_targets(first, second, 3, "normalised")
    assert torch.allclose(norm, torch.tensor([[[-2 / 3, -2 / 3], [2 / 3, 0.0], [0.0, 0.0]]]), atol=1e-7)
    # the embeddings gathered are those of the cells named
    emb = pair_embeddings(coordinate_grid(1, 3), first, second)
    assert emb[0, :, [0, 1, 3, 4]].tolist() == [[0, 0, 2, 2], [2, 1, 0, 1], [1, 2, 1, 2]]


def test_loss_matches_a_loop_oracle():
    torch.manual_seed(0)
    grid = torch.randn(2, 4, 5, 5)
    head = DRLocHead(4, hidden=16)
    loss, pred, tgt = drloc_loss(grid, head, 6, generator=torch.Generator().manual_seed(3), return_pairs=True)
    first, second = sample_pairs(2, 5, 6, torch.Generator().manual_seed(3))
    total = 0.0
    for b in range(2):
        for i in range(6):
            (r1, c1), (r2, c2) = first[b, i].tolist(), second[b, i].tolist()
            p = head(torch.cat([grid[b, :, r1, c1], grid[b, :, r2, c2]])).detach()
            total += abs(float(p[0]) - abs(r1 - r2)) + abs(float(p[1]) - abs(c1 - c2))
    assert abs(float(loss.detach()) - total / 24) < 1e-5


@pytest.mark.parametrize("target", ["abs", "signed", "normalised"])
def test_zero_loss_for_a_perfect_predictor(target):
    grid = coordinate_grid(4, 7)
    loss = drloc_loss(grid, PerfectHead(7, target), 64, target=target, generator=torch.Generator().manual_seed(0))
    assert float(loss) == 0.0
    noisy = drloc_loss(grid, lambda x: PerfectHead(7, target)(x) + 0.25, 64, target=target,
                       generator=torch.Generator().manual_seed(0))
    assert abs(float(noisy) - 0.25) < 1e-6


def test_loss_decreases_when_training_the_head_alone():
    torch.manual_seed(0)
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    # a fixed embedding per cell: a random linear code of its position, plus noise per image
    cells = torch.einsum("ct,tij->cij", torch.randn(8, 2), torch.stack([rows, cols]))[None]
    head = DRLocHead(8, hidden=64)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for step in range(200):
        grid = cells + 0.05 * torch.randn(16, 8, 6, 6)
        loss = drloc_loss(grid, head, 32, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-10:]) / 10 < 0.2 * sum(losses[:10]) / 10


def test_lambda_schedule_ramps_then_decays():
    assert lambda_at(0.0, 0.5) == 0.0 and lambda_at(0.1, 0.5) == pytest.approx(0.25)
    assert lambda_at(0.2, 0.5) == pytest.approx(0.5) and lambda_at(1.0, 0.5) == pytest.approx(0.0)
    assert lambda_at(0.6, 1.0, warmup=0.2, final=0.5) == pytest.approx(0.75)
    assert lambda_at(0.5, 0.3, warmup=0.0) == pytest.approx(0.15)
    assert lambda_at(0.7, 0.0) == 0.0


def test_clear_errors():
    head = DRLocHead(4, hidden=8)
    with pytest.raises(ValueError, match=r"square \(B, C, k, k\).*\(2, 4, 3, 5\)"):
        drloc_loss(torch.zeros(2, 4, 3, 5), head, 8)
    with pytest.raises(ValueError, match="square"):
        check_grid(torch.zeros(4, 5, 5))
    with pytest.raises(ValueError, match="m .* >= 1; got 0"):
        drloc_loss(torch.zeros(2, 4, 3, 3), head, 0)
    with pytest.raises(ValueError, match="lambda must be >= 0; got -0.1"):
        lambda_at(0.5, -0.1)
    with pytest.raises(ValueError, match="target must be one of"):
        pair_targets(torch.zeros(1, 2), torch.zeros(1, 2), 3, "relative")
    with pytest.raises(ValueError, match="reduction"):
        drloc_loss(torch.zeros(2, 4, 3, 3), head, 8, reduction="ce")


def test_constant_predictor_loss_by_hand():
    # k = 7, abs: |Δ| = 0 for 7 of 49 pairs, d for 2(7 - d); median 2; mean |d - 2| = 66/49
    assert constant_predictor_loss(7, "abs") == pytest.approx(66 / 49)
    assert constant_predictor_loss(2, "abs") == pytest.approx(0.5)  # |Δ| in {0, 1, 1, 0}
    assert constant_predictor_loss(7, "normalised") == pytest.approx(constant_predictor_loss(7, "signed") / 7)
    # a trained head must beat it: the perfect head of the coordinate grid scores 0
    grid = coordinate_grid(2, 7)
    assert float(drloc_loss(grid, PerfectHead(7, "abs"), 64)) < constant_predictor_loss(7, "abs")
