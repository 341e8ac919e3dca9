"""Accuracy intervals and paired differences on constructed cases whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from proctor.analysis import (
    AnalysisError,
    accuracy_ci,
    difference_ci,
    mean_ci,
    paired_difference_ci,
    permutation_p_value,
    sign_flip_p_value,
    wilson_interval,
)


def test_all_correct_and_all_wrong_give_degenerate_intervals() -> None:
    right = accuracy_ci([True] * 40)
    wrong = accuracy_ci([False] * 40)
    assert (right.value, right.low, right.high, right.n) == (1.0, 1.0, 1.0, 40)
    assert (wrong.value, wrong.low, wrong.high) == (0.0, 0.0, 0.0)
    assert right.method == "bootstrap" and right.resamples == 10_000 and right.clusters is None


def test_half_right_matches_the_normal_approximation() -> None:
    estimate = accuracy_ci([True] * 50 + [False] * 50)
    half_width = 1.959964 * math.sqrt(0.5 * 0.5 / 100)  # 0.098
    assert estimate.value == 0.5
    assert estimate.low == pytest.approx(0.5 - half_width, abs=0.01)
    assert estimate.high == pytest.approx(0.5 + half_width, abs=0.01)


def test_wilson_matches_hand_computed_values() -> None:
    # 3 of 4 at 95%: z^2 = 3.8415; centre = (0.75 + 0.4802) / 1.9604 = 0.6275; half-width = 0.3269.
    low, high = wilson_interval(3, 4)
    assert low == pytest.approx(0.3006, abs=1e-4)
    assert high == pytest.approx(0.9544, abs=1e-4)
    # 0 of 10: the interval starts at 0 and ends at z^2 / (n + z^2) = 0.2775.
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)
    estimate = accuracy_ci([True, True, True, False], method="wilson")
    assert estimate.value == 0.75
    assert (estimate.low, estimate.high) == wilson_interval(3, 4)
    assert estimate.method == "wilson" and estimate.resamples is None


def test_all_correct_gets_an_interval_below_one_clustered_by_question() -> None:
    """Ten questions each judged right in both answer orders: a bootstrap says [1, 1]; Wilson at the effective
    size (the worst case, one outcome per question, since no spread can be measured) says [10 / (10 + z^2), 1]."""
    outcomes = [True] * 20
    clusters = [f"q{i // 2}" for i in range(20)]
    assert (accuracy_ci(outcomes, clusters=clusters).low, accuracy_ci(outcomes, clusters=clusters).high) == (1, 1)
    estimate = accuracy_ci(outcomes, method="wilson", clusters=clusters)
    assert estimate.low == pytest.approx(10 / (10 + 1.959964**2), abs=1e-5) and estimate.high == 1.0
    assert (estimate.method, estimate.clusters, estimate.n) == ("wilson", 10, 20)
    # Clusters whose outcomes agree carry one outcome's information; independent-looking clusters carry more.
    pairs = [f"q{i}" for i in range(20) for _ in range(2)]
    agreeing = accuracy_ci([i < 12 for i in range(20) for _ in range(2)], method="wilson", clusters=pairs)
    assert agreeing.value == 0.6
    alone = accuracy_ci([i < 12 for i in range(20)], method="wilson")
    assert (agreeing.low, agreeing.high) == pytest.approx((alone.low, alone.high))
    mixed = accuracy_ci([True, False] * 20, method="wilson", clusters=[f"q{i // 2}" for i in range(40)])
    assert (mixed.low, mixed.high) == pytest.approx(wilson_interval(20, 40))  # deff 1: no loss


def test_exact_p_values_at_small_n() -> None:
    """6 of 10 questions differ, all in favour of A: the exact two-sided sign test gives 2 / 2^6 = 0.03125, where
    the shifted bootstrap printed 0.000."""
    a = [True] * 6 + [False] * 4
    b = [False] * 10
    estimate = paired_difference_ci(a, b)
    assert estimate.p_value == pytest.approx(0.03125)
    assert sign_flip_p_value([1.0] * 6 + [0.0] * 4) == pytest.approx(0.03125)
    # 9 of 10 one way, 1 the other: P(|S| >= 8) for S a sum of 10 signs = 2 * (1 + 10) / 1024.
    assert sign_flip_p_value([1.0] * 9 + [-1.0]) == pytest.approx(22 / 1024)
    # Clusters: the signs flip per question, with its answer orders summed.
    assert sign_flip_p_value([1.0, 1.0, 1.0, 0.0], clusters=["q1", "q1", "q2", "q2"]) == pytest.approx(0.5)
    # Beyond the exact range the test is sampled and agrees with the exact binomial (n = 40, 30 one way).
    sampled = sign_flip_p_value([1.0] * 30 + [-1.0] * 10, resamples=20_000)
    exact = 2 * sum(math.comb(40, k) for k in range(30, 41)) / 2**40
    assert sampled == pytest.approx(exact, abs=0.001)


def test_exact_permutation_p_value_of_two_small_groups() -> None:
    """3 of 3 right against 0 of 3: of the C(6, 3) = 20 splits, 2 are as extreme, p = 0.1 (Fisher's exact test)."""
    estimate = difference_ci([True, True, True], [False, False, False])
    assert estimate.p_value == pytest.approx(0.1)
    assert permutation_p_value(np.array([1.0, 1, 1]), np.array([0.0, 0, 0])) == pytest.approx(0.1)


def test_same_seed_same_interval_other_seed_other_draws() -> None:
    values = [((i * 37) % 101) / 100 for i in range(60)]
    first = mean_ci(values, seed=3, resamples=2_000)
    again = mean_ci(values, seed=3, resamples=2_000)
    other = mean_ci(values, seed=4, resamples=2_000)
    assert first == again
    assert (other.low, other.high) != (first.low, first.high)
    assert other.value == first.value


def test_cluster_bootstrap_of_duplicated_outcomes_equals_bootstrap_of_the_questions() -> None:
    """Each question judged in both answer orders with the same outcome carries one question's information."""
    per_question = [True] * 30 + [False] * 20
    both_orders = [outcome for outcome in per_question for _ in range(2)]
    clusters = [f"q{i}" for i in range(50) for _ in range(2)]
    clustered = accuracy_ci(both_orders, clusters=clusters)
    by_question = accuracy_ci(per_question)
    naive = accuracy_ci(both_orders)
    assert (clustered.low, clustered.high) == (by_question.low, by_question.high)
    assert clustered.method == "cluster-bootstrap" and clustered.clusters == 50 and clustered.n == 100
    assert naive.high - naive.low < clustered.high - clustered.low  # ignoring clusters is overconfident


def test_clusters_must_match_outcomes() -> None:
    with pytest.raises(AnalysisError, match="one cluster id per outcome"):
        accuracy_ci([True, False, True], clusters=["a", "b"])


def test_paired_difference_of_identical_sequences_is_zero() -> None:
    outcomes = [True, False, True, True, False] * 20
    estimate = paired_difference_ci(outcomes, outcomes)
    assert estimate.value == 0.0
    assert estimate.low <= 0.0 <= estimate.high
    assert estimate.p_value == 1.0


def test_paired_difference_matches_the_normal_approximation_and_mcnemar() -> None:
    # 100 questions: A alone right on 25, B alone right on 5, both right on 50, both wrong on 20.
    a = [True] * 25 + [False] * 5 + [True] * 50 + [False] * 20
    b = [False] * 25 + [True] * 5 + [True] * 50 + [False] * 20
    estimate = paired_difference_ci(a, b)
    se = math.sqrt((0.30 - 0.2**2) / 100)  # per-question difference: mean 0.2, E[d^2] 0.3
    assert estimate.value == pytest.approx(0.2)
    assert estimate.low == pytest.approx(0.2 - 1.96 * se, abs=0.02)
    assert estimate.high == pytest.approx(0.2 + 1.96 * se, abs=0.02)
    # McNemar's z = (25 - 5) / sqrt(30) = 3.65, p = 0.0003: the bootstrap agrees the difference is real.
    assert estimate.p_value is not None and estimate.p_value < 0.005


def test_paired_difference_without_a_real_difference_is_not_significant() -> None:
    a = [True] * 10 + [False] * 10 + [True] * 40 + [False] * 40
    b = [False] * 10 + [True] * 10 + [True] * 40 + [False] * 40
    estimate = paired_difference_ci(a, b)
    assert estimate.value == 0.0
    assert estimate.p_value is not None and estimate.p_value > 0.5


def test_paired_difference_needs_equal_lengths() -> None:
    with pytest.raises(AnalysisError, match="one outcome of each protocol per question"):
        paired_difference_ci([True, False], [True])


def test_difference_of_independent_groups_matches_the_normal_approximation() -> None:
    a = [True] * 60 + [False] * 40  # 0.6 of 100
    b = [True] * 40 + [False] * 60 + [True] * 20 + [False] * 30  # 0.4 of 150: groups may differ in size
    estimate = difference_ci(a, b)
    se = math.sqrt(0.6 * 0.4 / 100 + 0.4 * 0.6 / 150)
    assert estimate.value == pytest.approx(0.2) and estimate.n == 250
    assert estimate.low == pytest.approx(0.2 - 1.96 * se, abs=0.02)
    assert estimate.high == pytest.approx(0.2 + 1.96 * se, abs=0.02)
    # z = 0.2 / se = 3.16, p = 0.0016.
    assert estimate.p_value is not None and estimate.p_value < 0.01
    same = difference_ci([True, False] * 20, [False, True] * 30)
    assert same.value == 0.0 and same.p_value is not None and same.p_value > 0.5
    with pytest.raises(AnalysisError, match="no outcomes"):
        difference_ci([True], [])


def test_empty_input_is_refused() -> None:
    with pytest.raises(AnalysisError, match="no outcomes"):
        accuracy_ci([])
    with pytest.raises(AnalysisError, match="confidence"):
        accuracy_ci([True], confidence=95)


def test_a_million_outcomes_are_quick() -> None:
    estimate = accuracy_ci([True, False, False, True] * 250_000, clusters=None)
    assert estimate.value == 0.5
    assert estimate.high - estimate.low == pytest.approx(2 * 1.96 * math.sqrt(0.25 / 1_000_000), abs=2e-4)
