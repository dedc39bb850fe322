"""Recipes that reproduce the papers' experiments, α-guided model selection and reports.

* ``recipes/*.yaml`` (repository root, shipped in the wheel as package data;
  ``$REQ_RECIPES_DIR`` overrides the folder) — one recipe per experiment: the paper's
  setting and numbers, the sweep, and smoke/full scales
  (:mod:`req_plugins.recipes.recipe`).
* :func:`run_recipe` — run a sweep through req-train, resuming a partly finished
  one, and write ``results.csv``, ``report.md`` (paper vs ours) and plots
  (:mod:`~req_plugins.recipes.runner`, :mod:`~req_plugins.recipes.analyses`,
  :mod:`~req_plugins.recipes.report`); ``req-recipes`` is its command line.
* :func:`select_models` — α-ReQ Algorithm 1 (:mod:`~req_plugins.recipes.selection`;
  command ``req-select``, :mod:`~req_plugins.recipes.select_cli`).
* :func:`run_stepwise` — the stepwise linear Barlow Twins model and its closed form
  (:mod:`~req_plugins.recipes.stepwise`).

Running sweeps needs the ``lightly`` extra; the stepwise model and the selection
algorithm itself need torch only.
"""

from req_plugins.recipes.recipe import Recipe, list_recipes, load_recipe, recipes_dir

__all__ = [
    "Recipe",
    "list_recipes",
    "load_recipe",
    "recipes_dir",
    "run_recipe",
    "run_stepwise",
    "select_models",
]


def __getattr__(name: str):
    # Lazy: importing the package must not import Lightning (the stepwise model doesn't need it).
    if name == "run_recipe":
        from req_plugins.recipes.run import run_recipe

        return run_recipe
    if name == "select_models":
        from req_plugins.recipes.selection import select_models

        return select_models
    if name == "run_stepwise":
        from req_plugins.recipes.stepwise import run_stepwise

        return run_stepwise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
