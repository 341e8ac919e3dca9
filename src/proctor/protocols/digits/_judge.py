"""The sparse judge: a classifier that sees only a few revealed pixels of an 8×8 digit.

The judge of the MNIST debate experiment (Irving, Christiano & Amodei, 2018) is a classifier trained in advance
on a few random pixels of each image; here it is a one-hidden-layer MLP over scikit-learn's bundled 8×8 digits,
trained on k random nonzero pixels. Its input is 128 features: a 0/1 mask of the revealed pixels, then the pixel
values where revealed (0 elsewhere), so "revealed and dark" differs from "not revealed".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

PIXELS = 64
"""Pixels in one 8×8 digit."""
CLASSES = 10
"""Digit labels 0-9."""

Floats = npt.NDArray[np.float64]
Floats32 = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DigitsSplit:
    """The digits data set split into the judge's training images and the debated test images.

    Pixel values are scaled from 0-16 to 0-1.
    """

    train_images: Floats  # (N_train, 64)
    train_labels: Ints  # (N_train,)
    test_images: Floats  # (N_test, 64)
    test_labels: Ints  # (N_test,)


def load_split(*, seed: int, test_fraction: float) -> DigitsSplit:
    """Load scikit-learn's bundled digits (1,797 images, no download) and split them, stratified by label.

    Args:
        seed: Seed of the split.
        test_fraction: Fraction of the images held out for the debates.

    Returns:
        The split, with pixel values in [0, 1].
    """
    bunch = load_digits()
    images = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return DigitsSplit(
        train_images=np.asarray(x_train, dtype=np.float64),
        train_labels=np.asarray(y_train, dtype=np.int64),
        test_images=np.asarray(x_test, dtype=np.float64),
        test_labels=np.asarray(y_test, dtype=np.int64),
    )


def judge_features(masks: Floats, images: Floats) -> Floats:
    """The judge's input: the mask, then the image's values where the mask is set.

    Args:
        masks: 0/1 masks of revealed pixels, shape (..., 64).
        images: Images broadcastable to `masks`, shape (..., 64).

    Returns:
        Features of shape (..., 128).
    """
    return np.concatenate([masks, masks * images], axis=-1)


def random_nonzero_masks(images: Floats, *, pixels: int, per_image: int, rng: np.random.Generator) -> Floats:
    """Masks revealing `pixels` nonzero pixels of each image, chosen uniformly at random.

    Args:
        images: Images, shape (N, 64); each must have at least `pixels` nonzero pixels.
        pixels: Pixels revealed per mask.
        per_image: Masks drawn per image.
        rng: The random generator.

    Returns:
        Masks of shape (N, per_image, 64).
    """
    keys = rng.random((len(images), per_image, PIXELS))  # (N, R, 64)
    # Zero pixels sort last, so the first `pixels` keys pick random nonzero pixels.
    keys[np.broadcast_to((images == 0)[:, None, :], keys.shape)] = 2.0
    chosen = np.argsort(keys, axis=2, kind="stable")[:, :, :pixels]
    masks = np.zeros_like(keys)
    np.put_along_axis(masks, chosen, 1.0, axis=2)
    return masks


class SparseJudge:
    """A classifier of digits from a few revealed pixels, fixed once trained."""

    def __init__(self, classifier: MLPClassifier) -> None:
        """Wrap a trained scikit-learn MLP (ReLU hidden layers, one output per class)."""
        # float32 as trained: the debates push thousands of masks per image through the judge.
        self._weights: list[Floats32] = [np.asarray(w, dtype=np.float32) for w in classifier.coefs_]
        self._biases: list[Floats32] = [np.asarray(b, dtype=np.float32) for b in classifier.intercepts_]

    @classmethod
    def train(
        cls,
        split: DigitsSplit,
        *,
        pixels: int,
        masks_per_image: int,
        hidden: int,
        epochs: int,
        seed: int,
    ) -> SparseJudge:
        """Train a judge on the training images, each shown through many random masks of `pixels` pixels.

        Args:
            split: The data; only its training images are used.
            pixels: Nonzero pixels revealed in each training example.
            masks_per_image: Random masks drawn per training image.
            hidden: Units in the hidden layer.
            epochs: Passes over the masked training set (a fixed budget, so training time is bounded).
            seed: Seed of the masks, the initial weights and the batch order.

        Returns:
            The trained judge.
        """
        rng = np.random.default_rng([seed, pixels])
        masks = random_nonzero_masks(split.train_images, pixels=pixels, per_image=masks_per_image, rng=rng)
        features = judge_features(masks, split.train_images[:, None, :]).reshape(-1, 2 * PIXELS)
        features = features.astype(np.float32)  # scikit-learn keeps float32: half the training time
        labels = np.repeat(split.train_labels, masks_per_image)
        classifier = MLPClassifier(hidden_layer_sizes=(hidden,), batch_size=256, max_iter=epochs, random_state=seed)
        # Small matrices train faster on one BLAS thread, and the figures do not depend on the thread count.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # The epoch budget is deliberate; stopping before convergence is expected.
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(features, labels)
        return cls(classifier)

    def logits(self, features: Floats) -> Floats:
        """The judge's logits for each class.

        Args:
            features: Judge inputs, shape (B, 128).

        Returns:
            Logits of shape (B, 10).
        """
        activations = features.astype(np.float32)
        for weights, bias in zip(self._weights[:-1], self._biases[:-1], strict=True):
            activations = np.maximum(activations @ weights + bias, np.float32(0.0))  # (B, H)
        return (activations @ self._weights[-1] + self._biases[-1]).astype(np.float64)  # (B, 10)

    def accuracy_alone(
        self, images: Floats, labels: Ints, *, pixels: int, per_image: int, rng: np.random.Generator
    ) -> float:
        """Accuracy of the judge on its own, from `pixels` random nonzero pixels of each image.

        Args:
            images: Test images, shape (N, 64).
            labels: Their labels, shape (N,).
            pixels: Random nonzero pixels revealed.
            per_image: Random masks per image; accuracy is averaged over them to lower its variance.
            rng: The random generator of the masks.

        Returns:
            The fraction of (image, mask) pairs the judge classifies correctly.
        """
        return float(self.alone_outcomes(images, labels, pixels=pixels, per_image=per_image, rng=rng).mean())

    def alone_outcomes(
        self, images: Floats, labels: Ints, *, pixels: int, per_image: int, rng: np.random.Generator
    ) -> npt.NDArray[np.bool_]:
        """Whether the judge on its own classifies each (image, random mask) pair correctly, shape (N, per_image);
        see `accuracy_alone`."""
        masks = random_nonzero_masks(images, pixels=pixels, per_image=per_image, rng=rng)
        features = judge_features(masks, images[:, None, :]).reshape(-1, 2 * PIXELS)
        predicted = self.logits(features).argmax(axis=1)
        right: npt.NDArray[np.bool_] = (predicted == np.repeat(labels, per_image)).reshape(len(images), per_image)
        return right
