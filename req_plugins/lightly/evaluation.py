"""Offline evaluation of a frozen backbone: kNN and linear probe on extracted features.

Features are extracted once (no augmentation); the kNN classifier is lightly's
``knn_predict`` (weighted vote, InstDisc settings) and the linear probe trains a
linear layer on the stored features with one of :data:`PROBE_PROTOCOLS`: ``"sgd"``,
lightly's linear-evaluation recipe (SGD, momentum 0.9, cosine schedule), or
``"thesis"``, the thesis's Part III protocol (Appendix D, Table 4b: Adam, learning
rate 1e-3, weight decay 1e-6, batch 512, 200 epochs).
"""

from __future__ import annotations

import torch
from lightly.utils.benchmarking import knn_predict
from lightly.utils.scheduler import CosineWarmupScheduler
from torch import Tensor, nn
from torch.utils.data import DataLoader

from req_plugins._validation import check_choice
from req_plugins.modes import eval_mode

#: Linear-probe protocols of :func:`linear_probe_accuracy`.
PROBE_PROTOCOLS = ("sgd", "thesis")
#: The thesis's probe settings (Part III, Appendix D, Table 4b).
THESIS_PROBE = {"lr": 1e-3, "batch_size": 512, "epochs": 200, "weight_decay": 1e-6}


@torch.no_grad()
def extract_features(model: nn.Module, loader: DataLoader) -> tuple[Tensor, Tensor]:
    """``(features, targets)`` of every batch of ``loader`` with ``model`` in eval mode."""
    device = next(model.parameters()).device
    features, targets = [], []
    with eval_mode(model):
        for batch in loader:
            features.append(model(batch[0].to(device)).flatten(start_dim=1).cpu())
            targets.append(batch[1])
    return torch.cat(features), torch.cat(targets)


def knn_accuracy(
    train_features: Tensor,
    train_targets: Tensor,
    test_features: Tensor,
    test_targets: Tensor,
    *,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> float:
    """Top-1 accuracy of a cosine-similarity kNN classifier (lightly's ``knn_predict``)."""
    bank = nn.functional.normalize(train_features.float(), dim=1).t().contiguous()
    correct = 0
    for start in range(0, len(test_features), chunk_size):
        query = nn.functional.normalize(test_features[start : start + chunk_size].float(), dim=1)
        predicted = knn_predict(
            query, bank, train_targets, num_classes, knn_k=min(k, bank.shape[1]), knn_t=temperature
        )
        correct += int((predicted[:, 0] == test_targets[start : start + chunk_size]).sum())
    return correct / len(test_features)


def linear_probe_accuracy(
    train_features: Tensor,
    train_targets: Tensor,
    test_features: Tensor,
    test_targets: Tensor,
    *,
    num_classes: int,
    epochs: int = 100,
    lr: float = 0.1,
    batch_size: int = 256,
    seed: int = 0,
    protocol: str = "sgd",
) -> float:
    """Top-1 test accuracy of a linear classifier trained on frozen features.

    ``protocol="sgd"``: the features are standardised with the training split's mean
    and standard deviation, so one learning rate suits any backbone's feature scale;
    SGD with momentum 0.9 and lightly's cosine schedule, as lightly's
    ``LinearClassifier`` uses. ``protocol="thesis"``: a linear layer on the raw
    features, Adam with weight decay 1e-6 and a constant learning rate (the thesis
    trains it with ``lr=1e-3``, ``batch_size=512``, ``epochs=200``:
    :data:`THESIS_PROBE`). The loop runs on the stored features (no Trainer, no
    image pipeline).
    """
    check_choice(protocol, "eval.protocol", PROBE_PROTOCOLS)
    device = train_features.device
    if protocol == "sgd":
        mean = train_features.mean(dim=0)
        std = train_features.std(dim=0).clamp_min(1e-6)
        train_x, test_x = (train_features - mean) / std, (test_features - mean) / std
    else:
        train_x, test_x = train_features.float(), test_features.float()
    generator = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(train_x.shape[1], num_classes).to(device)
    with torch.no_grad():
        bound = 1.0 / train_x.shape[1] ** 0.5
        classifier.weight.copy_(
            torch.rand(classifier.weight.shape, generator=generator) * 2 * bound - bound
        )
        classifier.bias.zero_()
    steps_per_epoch = -(-len(train_x) // batch_size)
    if protocol == "sgd":
        optimizer = torch.optim.SGD(classifier.parameters(), lr=lr, momentum=0.9)
        scheduler = CosineWarmupScheduler(
            optimizer, warmup_epochs=0, max_epochs=epochs * steps_per_epoch
        )
    else:
        optimizer = torch.optim.Adam(
            classifier.parameters(), lr=lr, weight_decay=THESIS_PROBE["weight_decay"]
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=generator).to(device)
        for start in range(0, len(train_x), batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(classifier(train_x[batch]), train_targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    with torch.no_grad():
        predicted = classifier(test_x).argmax(dim=1)
    return float((predicted == test_targets).float().mean())
