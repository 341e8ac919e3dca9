"""The digits reproduction of the MNIST debate experiment: real judge training, real debates, measured figures."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from proctor.protocols.digits import (
    PAPER_MNIST,
    DigitsConfig,
    DigitsDebateError,
    DigitsResult,
    run_digits_debate,
)
from proctor.protocols.digits._debate import candidate_pools, game_tree, minimax
from proctor.protocols.digits._judge import load_split


@pytest.fixture(scope="module")
def default_run() -> tuple[list[DigitsResult], float]:
    """The default settings (4 and 6 pixels, 300 test images), run once for the module, with its wall time."""
    started = time.perf_counter()
    results = run_digits_debate(DigitsConfig())
    return results, time.perf_counter() - started


def test_default_run_is_fast(default_run: tuple[list[DigitsResult], float]) -> None:
    _, seconds = default_run
    assert seconds < 60.0


def test_debate_raises_judge_accuracy_by_a_clear_margin(default_run: tuple[list[DigitsResult], float]) -> None:
    results, _ = default_run
    assert [r.pixels for r in results] == [4, 6]
    for r in results:
        assert r.n == 300
        assert r.debate - r.judge_alone >= 0.15, r
        # Both move orders give the honest debater a clear win over the judge alone.
        assert min(r.debate_liar_first, r.debate_honest_first) - r.judge_alone >= 0.15, r


def test_judge_alone_is_well_above_chance_but_below_debate(default_run: tuple[list[DigitsResult], float]) -> None:
    results, _ = default_run
    for r in results:
        assert 0.3 < r.judge_alone < r.debate < 1.0, r
        # Winning one debate is easier than winning all nine.
        assert r.honest_win_rate > r.debate
    # More revealed pixels help the judge on its own.
    assert results[1].judge_alone > results[0].judge_alone


def test_results_carry_the_paper_figures(default_run: tuple[list[DigitsResult], float]) -> None:
    results, _ = default_run
    assert [(r.paper_judge_alone, r.paper_debate) for r in results] == [PAPER_MNIST[4], PAPER_MNIST[6]]
    assert PAPER_MNIST == {4: (0.482, 0.852), 6: (0.594, 0.889)}


def test_same_seed_gives_same_figures(default_run: tuple[list[DigitsResult], float]) -> None:
    results, _ = default_run
    assert run_digits_debate(DigitsConfig()) == results


def test_another_seed_gives_other_figures(default_run: tuple[list[DigitsResult], float]) -> None:
    results, _ = default_run
    other = run_digits_debate(DigitsConfig(pixels=[4], seed=1))
    assert other[0].judge_alone != results[0].judge_alone
    assert other[0].debate - other[0].judge_alone >= 0.15


def _brute_force(margins: np.ndarray, pool: int, pixels: int, honest_first: bool, revealed: tuple[int, ...]) -> float:
    """Minimax over move sequences, without merging transpositions."""
    if len(revealed) == pixels:
        leaf = list(itertools.combinations(range(pool), pixels)).index(tuple(sorted(revealed)))
        return float(margins[leaf])
    values = [
        _brute_force(margins, pool, pixels, honest_first, (*revealed, move))
        for move in range(pool)
        if move not in revealed
    ]
    honest_to_move = (len(revealed) % 2 == 0) == honest_first
    return max(values) if honest_to_move else min(values)


@pytest.mark.parametrize(("pool", "pixels"), [(6, 4), (5, 3), (4, 1)])
def test_minimax_over_subsets_matches_search_over_move_sequences(pool: int, pixels: int) -> None:
    tree = game_tree(pool, pixels)
    margins = np.random.default_rng(7).normal(size=(3, len(tree.leaves)))
    for honest_first in (True, False):
        fast = minimax(margins, tree, honest_first=honest_first)
        slow = [_brute_force(row, pool, pixels, honest_first, ()) for row in margins]
        np.testing.assert_allclose(fast, slow)


def test_candidate_pools_hold_each_sides_best_nonzero_pixels() -> None:
    split = load_split(seed=0, test_fraction=1 / 3)
    means = np.stack([split.train_images[split.train_labels == c].mean(axis=0) for c in range(10)])
    image, truth = split.test_images[0], int(split.test_labels[0])
    lies = np.array([label for label in range(10) if label != truth])
    pools = candidate_pools(image, truth, lies, means, per_side=5)
    assert pools.shape == (9, 10)
    for pool, lie in zip(pools, lies, strict=True):
        assert len(set(pool.tolist())) == 10
        assert (image[pool] > 0).all()
        favour = (image[pool] - means[lie, pool]) ** 2 - (image[pool] - means[truth, pool]) ** 2
        # The honest half favours the truth more than any pixel in the liar's half.
        assert favour[:5].min() >= favour[5:].max()


def _messages(error: ValidationError) -> Sequence[str]:
    return [str(e["msg"]) for e in error.errors()]


def test_config_rejects_more_pixels_than_the_search_can_reveal() -> None:
    with pytest.raises(ValidationError) as caught:
        DigitsConfig(pixels=[4, 11])
    assert any("widen the search with --search" in message for message in _messages(caught.value))
    with pytest.raises(ValidationError):
        DigitsConfig(pixels=[4, 4])


def test_too_many_images_is_a_named_error_that_says_the_limit() -> None:
    with pytest.raises(DigitsDebateError, match="--images 599 or fewer"):
        run_digits_debate(DigitsConfig(images=600))


def test_a_wider_search_pool_gives_the_debaters_more_pixels_to_choose_from() -> None:
    split = load_split(seed=0, test_fraction=1 / 3)
    means = np.stack([split.train_images[split.train_labels == c].mean(axis=0) for c in range(10)])
    image, truth = split.test_images[0], int(split.test_labels[0])
    lies = np.array([label for label in range(10) if label != truth])
    narrow = candidate_pools(image, truth, lies, means, per_side=5)
    wide = candidate_pools(image, truth, lies, means, per_side=8)
    assert wide.shape == (9, 16)
    for small, large in zip(narrow, wide, strict=True):
        assert set(small.tolist()) < set(large.tolist())  # the wider pool keeps every narrow candidate
    DigitsConfig(pixels=[12], candidates=6)  # 12 pixels need a pool of 12: widened, it is allowed
