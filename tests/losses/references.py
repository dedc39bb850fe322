"""Slow, obviously-correct reference losses written from the papers' equations with explicit loops.

Tiny inputs only (N, d ≲ 10): every sum is spelled out element by element.
"""

from __future__ import annotations

import itertools

import torch

BN_EPS = 1e-5


def standardize(z, eps=BN_EPS):
    """Per-dimension (z − mean) / sqrt(biased var + eps), one column at a time."""
    n, d = z.shape
    columns = []
    for i in range(d):
        column = z[:, i]
        mean = sum(column[k] for k in range(n)) / n
        var = sum((column[k] - mean) ** 2 for k in range(n)) / n
        columns.append((column - mean) / torch.sqrt(var + eps))
    return torch.stack(columns, dim=1)


def barlow_twins_multiview(views, beta):
    """Ghosh et al. 2024, Eq. 10.

    on = (1/m) Σ_v Σ_i (⟨z_v,i , z̄_i⟩/N − 1)², off = Σ_{i≠j} (⟨z̄_i, z̄_j⟩/N)².
    """
    m = len(views)
    n, d = views[0].shape
    z = [standardize(v) for v in views]
    z_mean = sum(z) / m
    on = 0.0
    for v in range(m):
        for i in range(d):
            c = sum(z[v][k, i] * z_mean[k, i] for k in range(n)) / n
            on = on + (c - 1) ** 2
    on = on / m
    off = 0.0
    for i, j in itertools.product(range(d), range(d)):
        if i != j:
            c = sum(z_mean[k, i] * z_mean[k, j] for k in range(n)) / n
            off = off + c**2
    return on + beta * off


def barlow_twins_pair(z_1, z_2, beta):
    """Standard Barlow Twins: Σ_i (1 − C_ii)² + β Σ_{i≠j} C_ij², C = z_1ᵀ z_2 / N."""
    n, d = z_1.shape
    a, b = standardize(z_1), standardize(z_2)
    loss = 0.0
    for i, j in itertools.product(range(d), range(d)):
        c = sum(a[k, i] * b[k, j] for k in range(n)) / n
        loss = loss + ((1 - c) ** 2 if i == j else beta * c**2)
    return loss


def barlow_twins_all_pairs(views, beta):
    """The naive O(m²) multi-view Barlow Twins: mean of the pairwise losses."""
    pairs = list(itertools.combinations(views, 2))
    return sum(barlow_twins_pair(a, b, beta) for a, b in pairs) / len(pairs)


def _variance_term(z, eps):
    n, d = z.shape
    total = 0.0
    for i in range(d):
        mean = sum(z[k, i] for k in range(n)) / n
        var = sum((z[k, i] - mean) ** 2 for k in range(n)) / (n - 1)
        total = total + torch.relu(1 - torch.sqrt(var + eps))
    return total / d


def _covariance_term(z):
    n, d = z.shape
    means = [sum(z[k, i] for k in range(n)) / n for i in range(d)]
    total = 0.0
    for i, j in itertools.product(range(d), range(d)):
        if i != j:
            cov = sum((z[k, i] - means[i]) * (z[k, j] - means[j]) for k in range(n)) / (n - 1)
            total = total + cov**2
    return total / d


def _mse(x, y):
    n, d = x.shape
    return sum((x[k, i] - y[k, i]) ** 2 for k in range(n) for i in range(d)) / (n * d)


def vicreg_multiview(views, lambda_param=25.0, mu_param=25.0, nu_param=1.0, eps=1e-4):
    """Multi-view VICReg (Ghosh et al. 2024): leave-one-out mean of the others, view-averaged."""
    m = len(views)
    inv = var = cov = 0.0
    for v in range(m):
        others = sum(views[u] for u in range(m) if u != v) / (m - 1)
        inv = inv + _mse(views[v], others)
        var = var + 0.5 * (_variance_term(views[v], eps) + _variance_term(others, eps))
        cov = cov + _covariance_term(views[v]) + _covariance_term(others)
    return (lambda_param * inv + mu_param * var + nu_param * cov) / m


def nt_xent(z_a, z_b, temperature):
    """SimCLR NT-Xent written per anchor: −log softmax of the positive over the 2N − 1 others."""
    z = torch.cat([z_a, z_b])
    z = z / z.norm(dim=1, keepdim=True)
    two_n = z.shape[0]
    n = two_n // 2
    total = 0.0
    for i in range(two_n):
        positive = (i + n) % two_n
        sims = {j: (z[i] @ z[j]) / temperature for j in range(two_n) if j != i}
        denominator = sum(torch.exp(s) for s in sims.values())
        total = total - torch.log(torch.exp(sims[positive]) / denominator)
    return total / two_n
