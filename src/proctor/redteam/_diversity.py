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
from collections.abc import Sequence

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
    logs = []
    for n in range(1, order + 1):
        counts = _ngrams(hypothesis, n)
        most: Counter[tuple[str, ...]] = Counter()
        for reference in references:
            for gram, count in _ngrams(reference, n).items():
                most[gram] = max(most[gram], count)
        matches = sum(min(count, most[gram]) for gram, count in counts.items())
        total = max(1, sum(counts.values()))
        if n == 1 and matches == 0:
            return 0.0
        logs.append(math.log((matches if matches else EPSILON) / total))
    length = len(hypothesis)
    closest = min((len(r) for r in references), key=lambda r: (abs(r - length), r))
    penalty = 1.0 if length > closest else math.exp(1 - closest / length)
    return penalty * math.exp(math.fsum(logs) / order)


def self_bleu(texts: Sequence[str], order: int = 4) -> float | None:
    """The mean BLEU of each text against all the others as references: near 1 when the texts repeat each other,
    lower when they vary (diversity is 1 - self-BLEU). None with fewer than two texts."""
    split = [tokens(t) for t in texts]
    if len(split) < 2:
        return None
    scores = [bleu(split[:i] + split[i + 1 :], words, order) for i, words in enumerate(split)]
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
    references = [tokens(t) for t in earlier]
    return 1.0 - sum(bleu(references, tokens(t), order) for t in texts) / len(texts)
