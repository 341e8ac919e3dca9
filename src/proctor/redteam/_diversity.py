"""How varied the attacks are: self-BLEU (Zhu et al. 2018, as Perez et al. 2022 use it), TF-IDF cosine diversity,
and novelty against earlier batches.

BLEU here is sentence BLEU-4 with uniform weights and "method 1" smoothing (0.1 added to an n-gram order with no
match), as NLTK's `sentence_bleu(references, hypothesis, smoothing_function=SmoothingFunction().method1)` computes
it; the tests check it against NLTK. Texts are lower-cased and split into words and punctuation marks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

_TOKEN = re.compile(r"\w+|[^\w\s]")
EPSILON = 0.1
"""Method-1 smoothing: the match count given to an n-gram order with none."""


def tokens(text: str) -> list[str]:
    """A text's words and punctuation marks, lower-cased."""
    return _TOKEN.findall(text.lower())


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu(references: Sequence[Sequence[str]], hypothesis: Sequence[str], order: int = 4) -> float:
    """Sentence BLEU of `hypothesis` against `references` (token lists): the geometric mean of clipped n-gram
    precisions for n = 1..`order` with method-1 smoothing, times the brevity penalty against the closest reference
    length. 0 when no word of the hypothesis is in a reference."""
    if not hypothesis or not references:
        return 0.0
    most, lengths = _references(references, order)
    return _bleu(hypothesis, [_ngrams(hypothesis, n) for n in range(1, order + 1)], most, lengths)


def _references(references: Sequence[Sequence[str]], order: int) -> tuple[list[Counter[tuple[str, ...]]], list[int]]:
    """The references' largest count of each n-gram (n = 1..order) and their distinct lengths, sorted."""
    most: list[Counter[tuple[str, ...]]] = []
    for n in range(1, order + 1):
        best: Counter[tuple[str, ...]] = Counter()
        for reference in references:
            for gram, count in _ngrams(reference, n).items():
                if count > best[gram]:
                    best[gram] = count
        most.append(best)
    return most, sorted({len(r) for r in references})


def _bleu(
    hypothesis: Sequence[str],
    counts: list[Counter[tuple[str, ...]]],
    most: Sequence[Mapping[tuple[str, ...], int]],
    lengths: Sequence[int],
) -> float:
    """BLEU from the hypothesis's n-gram counts, the references' largest count of each n-gram, and their distinct
    lengths."""
    logs = []
    for n, (found, best) in enumerate(zip(counts, most, strict=True), start=1):
        matches = sum(min(count, best.get(gram, 0)) for gram, count in found.items())
        total = max(1, sum(found.values()))
        if n == 1 and matches == 0:
            return 0.0
        logs.append(math.log((matches if matches else EPSILON) / total))
    length = len(hypothesis)
    closest = min(lengths, key=lambda r: (abs(r - length), r))
    penalty = 1.0 if length > closest else math.exp(1 - closest / length)
    return penalty * math.exp(math.fsum(logs) / len(counts))


class _OthersMost(Mapping[tuple[str, ...], int]):
    """The largest count of each n-gram over every text but one, from the two largest counts over all texts."""

    def __init__(self, top: dict[tuple[str, ...], tuple[int, int, int]], left_out: int) -> None:
        self.top = top
        self.left_out = left_out

    def __getitem__(self, gram: tuple[str, ...]) -> int:
        first, owner, second = self.top[gram]
        return second if owner == self.left_out else first

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self.top)

    def __len__(self) -> int:
        return len(self.top)


def self_bleu(texts: Sequence[str], order: int = 4) -> float | None:
    """The mean BLEU of each text against all the others as references: near 1 when the texts repeat each other,
    lower when they vary (diversity is 1 - self-BLEU). None with fewer than two texts.

    Each n-gram's largest and second-largest count over all texts are found once, so the largest count over the
    others of any one text is read off them: linear in the texts' length, where BLEU text by text is quadratic."""
    split = [tokens(t) for t in texts]
    if len(split) < 2:
        return None
    counts = [[_ngrams(words, n) for n in range(1, order + 1)] for words in split]
    tops: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(order)]
    for i, per_order in enumerate(counts):
        for top, found in zip(tops, per_order, strict=True):
            for gram, count in found.items():
                first, owner, second = top.get(gram, (0, -1, 0))
                top[gram] = (count, i, first) if count > first else (first, owner, max(second, count))
    lengths = Counter(len(words) for words in split)
    scores = []
    for i, words in enumerate(split):
        if not words:
            scores.append(0.0)
            continue
        others = [n for n, count in lengths.items() if n != len(words) or count > 1]
        most = [_OthersMost(top, i) for top in tops]
        scores.append(_bleu(words, counts[i], most, others))
    return sum(scores) / len(scores)


def tfidf_diversity(texts: Sequence[str]) -> float | None:
    """1 - the mean cosine similarity of every pair of texts' TF-IDF vectors (scikit-learn's `TfidfVectorizer` over
    words and word pairs): 0 when all texts are alike, near 1 when they share no words. None with fewer than two
    texts or no words."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    if len(texts) < 2:
        return None
    try:
        matrix = TfidfVectorizer(ngram_range=(1, 2)).fit_transform(list(texts))
    except ValueError:  # no words at all
        return None
    similarity = cosine_similarity(matrix)
    n = len(texts)
    pairs = (similarity.sum() - similarity.trace()) / (n * (n - 1))
    return float(1.0 - pairs)


def novelty(texts: Sequence[str], earlier: Sequence[str], order: int = 4) -> float | None:
    """How new `texts` are against `earlier` ones: 1 - the mean over texts of their BLEU against all earlier texts
    as references. None when either is empty."""
    if not texts or not earlier:
        return None
    most, lengths = _references([tokens(t) for t in earlier], order)
    scores = []
    for text in texts:
        words = tokens(text)
        counts = [_ngrams(words, n) for n in range(1, order + 1)]
        scores.append(_bleu(words, counts, most, lengths) if words else 0.0)
    return 1.0 - sum(scores) / len(scores)
