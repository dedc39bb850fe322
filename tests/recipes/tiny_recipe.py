"""The cheapest sweep the launcher tests run: two arms of a one-epoch run on the embedded digits."""

TINY = """\
name: tiny
title: "Tiny sweep"
kind: sweep
paper: {source: test, dataset: digits, setting: test, results: [{d: 16, value: 50.0}]}
analysis: {kind: final_metric, metric: linear_top1, rows: [d]}
train:
  method: {name: mv_barlow_twins}
  data: {name: digits, batch_size: 128, num_workers: 0}
  backbone: {name: small_cnn, width: 4}
  projector: {hidden_dim: 16, output_dim: 16}
  trainer: {max_epochs: 1, accelerator: cpu, log_every_n_steps: 5,
            check_val_every_n_epoch: 1000, progress_bar: false}
  metrics: {every_n_epochs: 1000, names: [uniformity]}
  spectrum: {enabled: false}
  eval: {linear_epochs: 5, linear_lr: 0.05, linear_batch_size: 128}
  plots: false
axes: {d: [16, 32]}
rules: [{set: {projector.output_dim: "{d}"}}]
scales: {full: {seeds: 1}, smoke: {seeds: 1, torch_threads: 1}}
"""
