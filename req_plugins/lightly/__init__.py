"""lightly + Lightning integration: methods, data, backbones, evaluation and ``req-train``.

* :mod:`req_plugins.lightly.methods` — LightningModules (lightly benchmark style),
  registered through the plugin hooks.
* :mod:`req_plugins.lightly.data` — the embedded digits dataset, CIFAR/STL-10/ImageFolder,
  multi-view lightly transforms with per-sample seeds.
* :mod:`req_plugins.lightly.backbones`, :mod:`req_plugins.lightly.evaluation`.
* :mod:`req_plugins.lightly.config`, :mod:`req_plugins.lightly.train`,
  :mod:`req_plugins.lightly.cli` — the ``req-train`` command.
"""
