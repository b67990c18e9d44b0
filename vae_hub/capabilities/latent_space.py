"""What is learned from the codes after training: what the prior fits to draw digits from,
and a 2-D map of the latent space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..files.mnist import MnistSplit, to_float
from ..model.vae import VAE, inference


def embed_split(model: VAE, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The centres of q(z|x) of many uint8 images (N, 28, 28) -> (N, latent_dim), batch by
    batch."""
    with inference(model):
        chunks = [
            model.encode(to_float(images[i : i + batch_size])).centre()
            for i in range(0, images.shape[0], batch_size)
        ]
    return torch.cat(chunks) if chunks else torch.zeros(0, model.latent_dim)


def tsne_2d(mu: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """t-SNE (scikit-learn) of latent means (N, D) -> (N, 2), perplexity capped for small N."""
    from sklearn.manifold import TSNE

    n = mu.shape[0]
    if n < 2:
        return torch.zeros(n, 2)
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return torch.from_numpy(xy.fit_transform(mu.double().cpu().numpy()).astype(np.float32))


def pca_2d(mu: torch.Tensor) -> torch.Tensor:
    """First two principal components of latent means (N, D) -> (N, 2)."""
    centred = mu.float() - mu.float().mean(0)
    if mu.shape[1] < 2:
        return torch.cat([centred, torch.zeros_like(centred)], dim=1)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    return centred @ v[:, :2]


def fit_latent_state(model: VAE, train: MnistSplit, test: MnistSplit, seed: int = 0) -> None:
    """Fit and store in `model` what is learned from the codes after training: what its
    prior keeps to draw digits from (from the training split), and the latent map (t-SNE of
    the first `latent_map_points` test digits)."""
    model.prior.fit_digits(lambda: embed_split(model, train.images), train.labels.to(model.device))
    points = model.latent_map_labels.shape[0]
    if points:
        subset = test.subset(points)
        mu = embed_split(model, subset.images)
        model.set_latent_map(mu, tsne_2d(mu, seed), subset.labels)


@dataclass(frozen=True)
class LatentMap:
    """A 2-D map of latent space: latent means (P, D), where each lands on the map (P, 2),
    and its digit (P,). t-SNE has no transform of its own, so new points are placed, and map
    positions turned back into latents, through their nearest stored neighbours."""

    mu: torch.Tensor
    xy: torch.Tensor
    labels: torch.Tensor
    method: str

    def place(self, mu: torch.Tensor, k: int = 10) -> torch.Tensor:
        """Map positions (M, 2) of new latent means (M, D): the mean position of their k
        nearest stored neighbours in latent space."""
        dist = torch.cdist(mu.float(), self.mu.float())  # (M, P)
        nearest = dist.topk(min(k, dist.shape[1]), largest=False).indices  # (M, k)
        return self.xy[nearest].mean(1)

    def latent_at(self, point: torch.Tensor, k: int = 8) -> torch.Tensor:
        """The latent (D,) under a map position (2,): inverse-distance weighting of the
        latent means of its k nearest stored points, so a click on a point decodes that
        point's digit and a click between clusters blends its neighbours."""
        dist = torch.cdist(point.float()[None], self.xy.float())[0]  # (P,)
        near = dist.topk(min(k, dist.shape[0]), largest=False)
        weights = 1.0 / near.values.clamp_min(1e-6) ** 2  # (k,)
        return (weights[:, None] * self.mu[near.indices].float()).sum(0) / weights.sum()


def latent_map(model: VAE, fallback: MnistSplit | None = None) -> LatentMap:
    """The model's stored t-SNE map; without one, PCA of the `fallback` digits' latents."""
    if model.has_latent_map:
        return LatentMap(
            model.latent_map_mu.cpu(), model.latent_map_xy.cpu(),
            model.latent_map_labels.cpu(), "t-SNE",
        )  # fmt: skip
    if fallback is None:
        raise ValueError("this model has no stored latent map")
    mu = embed_split(model, fallback.images).cpu()
    return LatentMap(mu, pca_2d(mu), fallback.labels.cpu(), "PCA")


def principal_directions(mu: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k main directions (k, D) of latent means (N, D) and their standard deviations
    (k,): the axes along which the digits vary most."""
    centred = mu.double() - mu.double().mean(0)
    variances, vectors = torch.linalg.eigh(centred.T @ centred / max(len(mu) - 1, 1))
    order = variances.argsort(descending=True)[:k]
    return vectors[:, order].T.float(), variances[order].clamp_min(0).sqrt().float()
