"""The pluggy registry: entry points, hooks, sources, lookups and a throw-away plugin."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import pytest
import torch

from req_plugins.lightly.methods.base import SSLMethod
from req_plugins.plugins import (
    FRAMEWORKS,
    Registry,
    create_registry,
    get_registry,
    hookimpl,
)
from tests.lightly.tiny import LossRecorder, tiny_config

BUILTIN_METHODS = {"barlow_twins", "vicreg", "simclr", "mv_barlow_twins", "mv_vicreg", "adadim"}


class ToyMethod(SSLMethod):
    """Pulls the views' backbone features together; enough to train one step."""

    def __init__(
        self,
        backbone,
        feature_dim,
        num_classes,
        *,
        num_views=2,
        projection_hidden_dim=8,
        projection_output_dim=8,
        scale=1.0,
        **kwargs,
    ):
        super().__init__(backbone, feature_dim, num_classes, num_views=num_views, **kwargs)
        self.projection_head = torch.nn.Linear(feature_dim, projection_output_dim)
        self.scale = scale

    def training_step(self, batch, batch_idx):
        views, targets = batch[0], batch[1]
        features = self.forward(torch.cat(views))
        z = self.projection_head(features).chunk(len(views))
        loss = self.scale * sum((z_v - z[0]).square().mean() for z_v in z[1:])
        self.log_ssl_loss(loss, targets.shape[0])
        return loss + self.online_classification_loss(features, targets)


class ToyPlugin:
    @hookimpl
    def req_register_methods(self, registry):
        registry.add_method("toy", ToyMethod, framework="lightning", description="test only")
        registry.add_method("toy", "some_solo_package.toy:Toy", framework="solo")

    @hookimpl
    def req_register_metrics(self, registry):
        registry.add_metric("toy_rank", "req_plugins.metrics:EffectiveRank")


def test_entry_point_is_declared():
    names = {ep.value for ep in importlib.metadata.entry_points(group="req_plugins")}
    assert "req_plugins.plugins.builtin" in names


def test_builtin_methods_arrive_through_the_entry_point_with_their_source():
    registry = create_registry()
    methods = registry.methods("lightning")
    assert BUILTIN_METHODS <= set(methods)
    assert {entry.source for entry in methods.values()} == {"req-plugins"}
    assert set(registry.metrics()) >= {"alpha", "effective_rank", "mutual_information"}
    assert registry.get_metric("mutual_information").inputs == "pair"
    # The builtin plugin is a registered pluggy plugin, not a dict filled on the side.
    plugins = dict(registry.plugin_manager.list_name_plugin())
    assert "builtin" in plugins  # pluggy names a plugin by its entry point


def test_get_registry_is_cached():
    assert get_registry() is get_registry()


def test_targets_are_lazy():
    # Listing methods must not import torchvision-heavy method modules.
    registry = create_registry()
    entry = registry.get_method("mv_barlow_twins", "lightning")
    assert isinstance(entry.target, str)
    assert entry.load().__name__ == "MultiViewBarlowTwins"


def test_unknown_method_lists_valid_names():
    registry = create_registry()
    with pytest.raises(ValueError, match="unknown method 'nope'.*mv_barlow_twins"):
        registry.get_method("nope", "lightning")
    with pytest.raises(ValueError, match="`framework` must be one of"):
        registry.methods("tensorflow")
    with pytest.raises(ValueError, match="unknown metric 'nope'.*alpha"):
        registry.get_metric("nope")


def test_throwaway_plugin_registers_through_the_hook_and_trains_one_step(tmp_path):
    registry = create_registry()
    plugin = ToyPlugin()
    registry.register(plugin, "toy-plugin")

    entry = registry.get_method("toy", "lightning")
    assert entry.load() is ToyMethod
    assert entry.source == __name__  # a module outside any installed distribution
    assert registry.get_method("toy", "solo").target == "some_solo_package.toy:Toy"
    assert "toy_rank" in registry.metrics()
    assert registry.plugin_manager.is_registered(plugin)

    from req_plugins.lightly.train import train

    recorder = LossRecorder()
    config = tiny_config(
        tmp_path / "run", "method.name=toy", "method.scale=2.0", "trainer.max_steps=1"
    )
    results = train(config, registry=registry, callbacks=[recorder])
    assert len(recorder.losses) == 1 and recorder.losses[0] > 0
    assert results["method"] == "toy" and 0.0 <= results["knn_top1"] <= 1.0


def _install_distribution(path, monkeypatch, name, entry_point):
    """A fake installed distribution ``name`` on sys.path with one ``req_plugins`` entry point."""
    dist_info = path / f"{name.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[req_plugins]\n{entry_point}\n")
    monkeypatch.syspath_prepend(str(path))


def test_plugin_from_an_installed_distribution(tmp_path, monkeypatch):
    """A fake distribution on sys.path (dist-info + entry point), found by create_registry."""
    (tmp_path / "fake_req_plugin.py").write_text(
        textwrap.dedent(
            """
            from req_plugins.plugins import hookimpl

            @hookimpl
            def req_register_methods(registry):
                registry.add_method("fake_method", "fake_req_plugin:Nothing", framework="solo")
            """
        )
    )
    _install_distribution(tmp_path, monkeypatch, "fake-req-plugin", "fake = fake_req_plugin")
    monkeypatch.delitem(sys.modules, "fake_req_plugin", raising=False)

    registry = create_registry()
    entry = registry.get_method("fake_method", "solo")
    assert entry.source == "fake-req-plugin"
    assert "fake_method" not in registry.methods("lightning")
    with pytest.raises(ImportError, match="registered by fake-req-plugin"):
        entry.load()


def test_broken_plugin_is_skipped_with_a_warning(tmp_path, monkeypatch):
    _install_distribution(tmp_path, monkeypatch, "broken-plugin", "broken = no_such_module_xyz")
    with pytest.warns(UserWarning, match="skipping plugin 'no_such_module_xyz' of broken-plugin"):
        registry = create_registry()
    assert BUILTIN_METHODS <= set(registry.methods("lightning"))


def test_a_taken_entry_point_name_is_skipped_with_a_warning_naming_both(tmp_path, monkeypatch):
    """pluggy names plugins by entry point: a second package reusing a name is not lost silently."""
    for dist, method in (("first-pkg", "first_method"), ("second-pkg", "second_method")):
        folder = tmp_path / dist
        folder.mkdir()
        module = dist.replace("-", "_") + "_plugin"
        (folder / f"{module}.py").write_text(
            "from req_plugins.plugins import hookimpl\n\n"
            "@hookimpl\n"
            "def req_register_methods(registry):\n"
            f"    registry.add_method({method!r}, 'x:Y', framework='solo')\n"
        )
        _install_distribution(folder, monkeypatch, dist, f"plugin = {module}")
    with pytest.warns(UserWarning, match=r"entry point name 'plugin' .* already (used|taken)"):
        registry = create_registry()
    found = {"first_method", "second_method"} & set(registry.methods("solo"))
    assert len(found) == 1


def test_duplicate_names_are_refused_naming_both_sources():
    registry = create_registry()

    class Clash:
        @hookimpl
        def req_register_methods(self, registry):
            registry.add_method("simclr", "x.y:Z", framework="lightning")

    with pytest.raises(ValueError, match="'simclr'.*already registered by req-plugins"):
        registry.register(Clash(), "clash")


@pytest.mark.parametrize(
    ("name", "target", "framework", "message"),
    [
        ("has space", "a.b:C", "lightning", "`name` must be"),
        (
            "ok",
            "not a target",
            "lightning",
            "`target` must be a class or a 'module.path:ClassName'",
        ),
        ("ok", 42, "lightning", "`target` must be a class or a string"),
        ("ok", "a.b:C", "jax", "`framework` must be one of"),
    ],
)
def test_bad_entries_raise(name, target, framework, message):
    registry = Registry()

    class Bad:
        @hookimpl
        def req_register_methods(self, registry):
            registry.add_method(name, target, framework=framework)

    with pytest.raises(ValueError, match=message):
        registry.register(Bad())


def test_entries_are_only_added_through_hooks():
    with pytest.raises(RuntimeError, match="registry.register"):
        Registry().add_method("direct", "a.b:C", framework="lightning")


def test_frameworks():
    assert FRAMEWORKS == ("lightning", "solo")


def test_list_methods_command(capsys):
    from req_plugins.lightly.cli import main

    assert main(["--list-methods"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN_METHODS:
        assert any(
            line.split()[:3] == [name, "lightning", "req-plugins"] for line in out.splitlines()
        )
    assert "mutual_information" in out
