"""Small networks trained on CPU: multilayer perceptrons, soft-label training (optionally with weak-to-strong's
auxiliary confidence loss) and self-supervised pretraining as a denoising autoencoder."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):  # type: ignore[misc]
    """An encoder of `depth` ReLU layers of `hidden` units and a linear head; `hidden=0` is a linear model. The
    decoder (used only in pretraining) maps the encoding back to the input."""

    def __init__(self, inputs: int, hidden: int, classes: int, *, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = inputs
        for _ in range(depth if hidden else 0):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)
        self.decoder = nn.Linear(width, inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, inputs) -> (B, classes)
        return self.head(self.encoder(x))


def logconf_loss(logits: torch.Tensor, labels: torch.Tensor, coef: float) -> torch.Tensor:
    """Burns et al.'s auxiliary confidence loss for two classes: cross-entropy against a mix of the weak soft labels
    and the strong model's own hardened predictions, `(1 − coef) · weak + coef · hard(strong)`. Hardening thresholds
    the strong model's class-0 probability at the quantile that gives the weak labels' class balance, so the strong
    model cannot collapse to one class."""
    preds = torch.softmax(logits, dim=-1)  # (B, 2)
    positive = labels.mean(dim=0)[1]
    threshold = torch.quantile(preds[:, 0], positive.clamp(0.0, 1.0))
    hard = torch.stack([preds[:, 0] >= threshold, preds[:, 0] < threshold], dim=1).float()
    target = labels * (1 - coef) + hard.detach() * coef
    return F.cross_entropy(logits, target)


def fit(
    model: MLP,
    x: NDArray[np.float32],
    soft_labels: NDArray[np.float32],
    *,
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    batch: int = 32,
    aux_coef: float = 0.0,
    warmup: float = 0.1,
    head_only: bool = False,
) -> None:
    """Train on soft labels `(N, classes)` with Adam; with `aux_coef` > 0 the auxiliary confidence loss, its weight
    ramped linearly from 0 to `aux_coef` over the first `warmup` fraction of steps. `head_only` trains the head alone
    (a linear probe on the encoder's features)."""
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(soft_labels)
    optimizer = torch.optim.Adam(model.head.parameters() if head_only else model.parameters(), lr=lr)
    steps = epochs * max(1, -(-len(x) // batch))
    step = 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            index = order[start : start + batch]
            logits = model(inputs[index])
            if aux_coef > 0 and len(index) > 1:
                ramp = min(1.0, step / max(1.0, warmup * steps))
                loss = logconf_loss(logits, targets[index], aux_coef * ramp)
            else:
                loss = F.cross_entropy(logits, targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    model.eval()


def pretrain(model: MLP, x: NDArray[np.float32], *, epochs: int, seed: int, mask: float = 0.3, batch: int = 64) -> None:
    """Self-supervised pretraining of the encoder: reconstruct each input from a copy with a `mask` fraction of its
    features zeroed (a denoising autoencoder). Labels are never seen."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(x)
    parameters = [*model.encoder.parameters(), *model.decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            clean = inputs[order[start : start + batch]]
            kept = (torch.rand(clean.shape, generator=generator) >= mask).float()
            loss = F.mse_loss(model.decoder(model.encoder(clean * kept)), clean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()


def probabilities(model: MLP, x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Class probabilities `(N, classes)`."""
    with torch.no_grad():
        return np.asarray(torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy(), dtype=np.float32)


def accuracy(model: MLP, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Fraction of `x` whose most probable class is `y`."""
    return float((probabilities(model, x).argmax(axis=1) == y).mean())


def one_hot(y: NDArray[np.int64], classes: int) -> NDArray[np.float32]:
    return np.eye(classes, dtype=np.float32)[y]
