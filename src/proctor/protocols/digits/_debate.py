"""The MNIST debate experiment of Irving, Christiano & Amodei (2018), redone on scikit-learn's 8×8 digits.

The game, played once per test image and wrong label (the precommit setting):

1. The honest debater claims the true label; the liar commits to one wrong label before the game starts.
2. They take turns revealing one nonzero pixel of the image to the judge, `k` pixels in total; a pixel cannot be
   faked, only chosen. With `first="liar"` the liar reveals pixels 1, 3, 5, …
3. The fixed sparse judge sees the revealed pixels and compares its logits for the two claimed labels only;
   the honest debater wins when the true label's logit is strictly higher.

An image counts as won when the honest debater wins against every one of the nine wrong labels.

Both debaters play the game exactly (minimax) over a restricted move set: the `candidates` nonzero pixels that
most favour the true label over the lie, and the `candidates` that most favour the lie, by how much closer the
pixel's value is to one class's mean image than to the other's. Since the judge sees a set of pixels, not their
order, a game state is a subset of the pool; the leaves (all k-subsets) go through the judge in one batch and the
minimax runs over subset levels with array operations.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from proctor.analysis import Estimate, accuracy_ci
from proctor.protocols.digits._judge import (
    CLASSES,
    PIXELS,
    DigitsSplit,
    Floats,
    Ints,
    SparseJudge,
    judge_features,
    load_split,
)
from proctor.protocols.digits._models import PAPER_MNIST, DigitsConfig, DigitsDebateError, DigitsResult


@dataclass(frozen=True)
class GameTree:
    """All states of a k-pixel game over a pool of m candidate pixels, as subsets of the pool."""

    leaves: Ints  # (C(m, k), k): pool positions revealed at each leaf
    children: tuple[Ints, ...]  # children[j]: (C(m, j), m - j) indices into the level j + 1 states


@lru_cache(maxsize=32)
def game_tree(pool: int, pixels: int) -> GameTree:
    """The game tree of revealing `pixels` of `pool` candidate pixels, with transpositions merged.

    Args:
        pool: Candidate pixels.
        pixels: Pixels revealed in total.

    Returns:
        The leaves and, per level, each state's children.
    """
    levels = [
        [sum(1 << i for i in subset) for subset in itertools.combinations(range(pool), j)] for j in range(pixels + 1)
    ]
    index = [{state: i for i, state in enumerate(level)} for level in levels]
    children = tuple(
        np.array(
            [[index[j + 1][state | 1 << i] for i in range(pool) if not state >> i & 1] for state in levels[j]],
            dtype=np.int64,
        ).reshape(len(levels[j]), pool - j)
        for j in range(pixels)
    )
    leaves = np.array(list(itertools.combinations(range(pool), pixels)), dtype=np.int64).reshape(-1, pixels)
    return GameTree(leaves=leaves, children=children)


def candidate_pools(image: Floats, truth: int, lies: Ints, class_means: Floats, *, per_side: int) -> Ints:
    """The pixels the debaters may reveal, one pool per wrong label.

    A nonzero pixel favours the true label when its value is closer to the true class's mean image than to the
    lie's; each pool holds the `per_side` pixels that most favour each side.

    Args:
        image: The debated image, shape (64,).
        truth: Its true label.
        lies: The wrong labels, shape (L,).
        class_means: Mean training image per class, shape (10, 64).
        per_side: Candidates per debater.

    Returns:
        Pixel indices of shape (L, m), with m = min(2 * per_side, nonzero pixels).
    """
    nonzero = np.flatnonzero(image > 0)
    size = min(2 * per_side, len(nonzero))
    values = image[nonzero]  # (P,)
    favour = (values - class_means[lies][:, nonzero]) ** 2 - (values - class_means[truth, nonzero]) ** 2  # (L, P)
    order = np.argsort(-favour, axis=1, kind="stable")
    honest_half, liar_half = (size + 1) // 2, size // 2
    picked = np.concatenate([order[:, :honest_half], order[:, len(nonzero) - liar_half :]], axis=1)
    return np.asarray(nonzero[picked], dtype=np.int64)


def minimax(margins: Floats, tree: GameTree, *, honest_first: bool) -> Floats:
    """The value of each game under optimal play: the honest debater maximises the judge's margin, the liar
    minimises it.

    Args:
        margins: Judge logit of the true label minus that of the lie at each leaf, shape (L, C(m, k)).
        tree: The game tree the leaves come from.
        honest_first: Whether the honest debater reveals the first pixel.

    Returns:
        The margin reached under optimal play, per wrong label, shape (L,).
    """
    values = margins
    for level in range(len(tree.children) - 1, -1, -1):
        options = values[:, tree.children[level]]  # (L, states at level, moves)
        honest_to_move = (level % 2 == 0) == honest_first
        values = options.max(axis=2) if honest_to_move else options.min(axis=2)
    return values[:, 0]


def debate_margins(
    judge: SparseJudge,
    image: Floats,
    truth: int,
    class_means: Floats,
    *,
    pixels: int,
    per_side: int,
) -> tuple[Floats, Floats]:
    """Play the honest debater against every wrong label on one image, in both move orders.

    Args:
        judge: The fixed judge.
        image: The image, shape (64,).
        truth: Its true label.
        class_means: Mean training image per class, shape (10, 64).
        pixels: Pixels revealed in total.
        per_side: Candidate pixels per debater.

    Returns:
        The judge's margin for the truth under optimal play, per wrong label, with the liar first and with the
        honest debater first; each of shape (9,). A positive margin is a win for the honest debater.
    """
    lies = np.array([label for label in range(CLASSES) if label != truth], dtype=np.int64)
    pools = candidate_pools(image, truth, lies, class_means, per_side=per_side)  # (L, m)
    if pools.shape[1] < pixels:
        raise DigitsDebateError(
            f"an image has only {pools.shape[1]} candidate pixels, fewer than the {pixels} to reveal: "
            "reveal fewer pixels or widen the search (--search)"
        )
    tree = game_tree(pools.shape[1], pixels)
    revealed = pools[:, tree.leaves]  # (L, C, k)
    masks = np.zeros((*revealed.shape[:2], PIXELS))  # (L, C, 64)
    np.put_along_axis(masks, revealed, 1.0, axis=2)
    logits = judge.logits(judge_features(masks, image).reshape(-1, 2 * PIXELS)).reshape(*masks.shape[:2], CLASSES)
    margins = logits[:, :, truth] - logits[np.arange(len(lies)), :, lies]  # (L, C)
    return minimax(margins, tree, honest_first=False), minimax(margins, tree, honest_first=True)


def _test_images(split: DigitsSplit, config: DigitsConfig) -> tuple[Floats, Ints]:
    available = len(split.test_images)
    if config.images > available:
        raise DigitsDebateError(
            f"asked for {config.images} test images but the held-out split has {available}: "
            f"use --images {available} or fewer, or raise test_fraction"
        )
    chosen = np.sort(np.random.default_rng([config.seed, 0]).choice(available, config.images, replace=False))
    return split.test_images[chosen], split.test_labels[chosen]


def _per_image(outcomes: npt.ArrayLike) -> Estimate:
    """Accuracy of (image, …) outcomes, shape (N, M), with its Wilson interval (clustered by image when M > 1)."""
    array = np.asarray(outcomes, dtype=bool)
    flat = [bool(x) for x in array.ravel()]
    if array.shape[1] == 1:
        return accuracy_ci(flat, method="wilson")
    return accuracy_ci(flat, method="wilson", clusters=[i // array.shape[1] for i in range(len(flat))])


def run_digits_debate(config: DigitsConfig) -> list[DigitsResult]:
    """Measure the sparse judge's accuracy alone and after debate, once per pixel count.

    Seeded: the same config gives the same figures.

    Args:
        config: The settings.

    Returns:
        One result per entry of `config.pixels`, in that order.

    Raises:
        DigitsDebateError: When more test images are asked for than the held-out split has.

    Example:
        >>> [r.debate > r.judge_alone for r in run_digits_debate(DigitsConfig(images=100))]
        [True, True]
    """
    split = load_split(seed=config.seed, test_fraction=config.test_fraction)
    images, labels = _test_images(split, config)
    class_means = np.stack([split.train_images[split.train_labels == c].mean(axis=0) for c in range(CLASSES)])
    results = []
    for k in config.pixels:
        judge = SparseJudge.train(
            split,
            pixels=k,
            masks_per_image=config.masks_per_image,
            hidden=config.hidden,
            epochs=config.epochs,
            seed=config.seed,
        )
        alone_right = judge.alone_outcomes(
            images, labels, pixels=k, per_image=config.alone_masks, rng=np.random.default_rng([config.seed, k, 1])
        )  # (N, masks)
        alone = float(alone_right.mean())
        played = [
            debate_margins(judge, image, int(label), class_means, pixels=k, per_side=config.candidates)
            for image, label in zip(images, labels, strict=True)
        ]
        liar_first = np.stack([margins for margins, _ in played]) > 0  # (N, 9): honest wins
        honest_first = np.stack([margins for _, margins in played]) > 0
        wins = liar_first if config.first == "liar" else honest_first
        paper = PAPER_MNIST.get(k)
        results.append(
            DigitsResult(
                pixels=k,
                judge_alone=alone,
                debate=float(wins.all(axis=1).mean()),
                n=len(images),
                first=config.first,
                debate_liar_first=float(liar_first.all(axis=1).mean()),
                debate_honest_first=float(honest_first.all(axis=1).mean()),
                honest_win_rate=float(wins.mean()),
                paper_judge_alone=None if paper is None else paper[0],
                paper_debate=None if paper is None else paper[1],
                intervals={
                    "judge_alone": _per_image(alone_right),
                    "debate": _per_image(wins.all(axis=1, keepdims=True)),
                    "debate_liar_first": _per_image(liar_first.all(axis=1, keepdims=True)),
                    "debate_honest_first": _per_image(honest_first.all(axis=1, keepdims=True)),
                    "honest_win_rate": _per_image(wins),
                },
            )
        )
    return results
