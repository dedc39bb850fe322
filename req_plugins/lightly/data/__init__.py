"""Datasets, multi-view augmentation and loaders for ``req-train``.

* :mod:`req_plugins.lightly.data.datasets` — the dataset table (``data.name``): the
  embedded digits, CIFAR/STL-10/ImageFolder from a local path, synthetic stand-ins.
* :mod:`req_plugins.lightly.data.sampling` — per-sample seeds and the epoch sampler, so a
  run sees the same augmented batches on any number of processes and after a resume.
* :mod:`req_plugins.lightly.data.views` — multi-view datasets and the view transforms
  (lightly's on the CPU, kornia's on the device), SwAV's small crops, held-out views.
* :mod:`req_plugins.lightly.data.datamodule` — ``build_data`` (the datasets of a run) and
  its Lightning datamodule.
"""
