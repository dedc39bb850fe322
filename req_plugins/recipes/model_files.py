"""Reading model files that may come from elsewhere: ``torch.load(..., weights_only=True)`` with
an allow-list of what a req-train (Lightning) checkpoint holds, and feature checks; every failure
is a :class:`BadModelFile` naming the file."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FEATURE_KEYS = ("train_features", "train_targets", "test_features", "test_targets")


class BadModelFile(ValueError):
    """A candidate's file cannot be used; the message names it and says why."""


def _checkpoint_classes() -> list[type]:
    """Classes a req-train (Lightning) checkpoint pickles besides tensors and containers: the
    hyper-parameter dict and the path-like values of Lightning's callback states."""
    import pathlib

    classes: list[type] = [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath]
    try:
        from lightning_fabric.utilities.data import AttributeDict

        classes.append(AttributeDict)
    except ImportError:  # the lightly extra is not installed: feature files only
        pass
    return classes


def safe_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with the checkpoint allow-list; any failure is a
    :class:`BadModelFile` naming ``path``."""

    try:
        with torch.serialization.safe_globals(_checkpoint_classes()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found:
            raise BadModelFile(
                f"refused {str(path)!r}: it pickles {found.group(1)}, which is neither a tensor "
                "nor a plain container and could run code when loaded"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
        raise BadModelFile(
            f"cannot read {str(path)!r}: not an intact torch file"
            + (f" ({detail.group(1).strip()})" if detail else "")
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise BadModelFile(
            f"cannot read {str(path)!r}: not an intact torch file ({str(error).splitlines()[0]})"
        ) from None


def check_features(path: Path, features: tuple[Tensor, ...]) -> tuple[Tensor, ...]:

    train_x, train_y, test_x, test_y = features
    for key, value in zip(FEATURE_KEYS, features, strict=True):
        if not isinstance(value, torch.Tensor):
            raise BadModelFile(
                f"{str(path)!r}: `{key}` must be a tensor, got {type(value).__name__}."
            )
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise BadModelFile(
            f"{str(path)!r}: features must be 2-D with one width, got train "
            f"{tuple(train_x.shape)} and test {tuple(test_x.shape)}."
        )
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise BadModelFile(f"{str(path)!r}: features and targets differ in length.")
    for key, value in (("train_features", train_x), ("test_features", test_x)):
        bad = int((~torch.isfinite(value)).any(dim=1).sum())
        if bad:
            raise BadModelFile(
                f"{str(path)!r}: {bad} of {len(value)} rows of `{key}` hold NaN or infinite "
                "values (a diverged model?)."
            )
    return features


def load_feature_file(path: Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four tensors of a ``*.features.pt`` file, checked (see :data:`FEATURE_KEYS`)."""
    data = safe_load(path)
    if not isinstance(data, dict):
        raise BadModelFile(f"feature file {str(path)!r} must hold a dict, got {type(data)}.")
    missing = [key for key in FEATURE_KEYS if key not in data]
    if missing:
        raise BadModelFile(
            f"feature file {str(path)!r} lacks {missing}; needs {list(FEATURE_KEYS)}."
        )
    return check_features(path, tuple(data[key] for key in FEATURE_KEYS))
