"""Offline kNN and linear probe on frozen features."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from req_plugins.lightly.evaluation import extract_features, knn_accuracy, linear_probe_accuracy


def _clusters(n_per_class: int, num_classes: int, dim: int, spread: float, seed: int):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=generator) * 3
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    features = centers[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return features, labels


def test_separable_clusters_are_classified_perfectly():
    train = _clusters(40, 5, 16, 0.3, seed=0)
    test = _clusters(20, 5, 16, 0.3, seed=0)  # same centres, new noise
    test = (test[0] + 0.01, test[1])
    assert knn_accuracy(*train, *test, num_classes=5, k=10) == 1.0
    assert linear_probe_accuracy(*train, *test, num_classes=5, epochs=30) == 1.0


def test_random_labels_give_chance_accuracy():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(1200, 32, generator=generator)
    labels = torch.randint(0, 4, (1200,), generator=generator)
    train, test = (features[:800], labels[:800]), (features[800:], labels[800:])
    assert abs(knn_accuracy(*train, *test, num_classes=4) - 0.25) < 0.08
    assert abs(linear_probe_accuracy(*train, *test, num_classes=4, epochs=20) - 0.25) < 0.08


def test_linear_probe_is_deterministic_and_scale_invariant():
    train = _clusters(30, 3, 8, 2.5, seed=2)
    test = _clusters(30, 3, 8, 2.5, seed=3)
    first = linear_probe_accuracy(*train, *test, num_classes=3, epochs=10, seed=4)
    assert first == linear_probe_accuracy(*train, *test, num_classes=3, epochs=10, seed=4)
    scaled = linear_probe_accuracy(
        train[0] * 1000, train[1], test[0] * 1000, test[1], num_classes=3, epochs=10, seed=4
    )
    assert abs(scaled - first) < 1e-6


def test_extract_features_in_eval_mode_restores_modes():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5))
    model.train()
    images = torch.randn(10, 4)
    loader = DataLoader(TensorDataset(images, torch.arange(10)), batch_size=4)
    features, targets = extract_features(model, loader)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(features, model(images))
    assert torch.equal(targets, torch.arange(10))
