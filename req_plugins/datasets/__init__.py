"""Datasets the project generates itself (no download): :class:`ShapesDataset`."""

from req_plugins.datasets.shapes import SHAPES, ShapesDataset, render_shapes

__all__ = ["SHAPES", "ShapesDataset", "render_shapes"]
