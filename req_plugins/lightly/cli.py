"""``req-train``: pretrain, evaluate and report a self-supervised method from a YAML config.

Usage::

    req-train CONFIG.yaml [key=value ...]     train with a config file and overrides
    req-train NAME [key=value ...]            a bundled config (quickstart, cifar10_mv_barlow_twins)
    req-train --quickstart [key=value ...]    the bundled quickstart (shapes, CPU, minutes)
    req-train --list-methods                  registered methods/metrics and their packages
    req-train --show-config [CONFIG.yaml] [key=value ...]   print the resolved config
    req-train --show-config --describe        every key: type, default, allowed values

Exit status: 0 done (results on stdout, progress on stderr); 2 bad input (config,
paths, an output folder in use), reported before anything is written; 1 a failure
during training, with its traceback (the run folder keeps every earlier result).
"""

from __future__ import annotations

import argparse
import sys
import traceback

QUICKSTART = "quickstart"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="req-train",
        description="Pretrain a self-supervised method (lightly + Lightning), then evaluate it "
        "with kNN, a linear probe and label-free metrics (alpha, effective rank, I(R;Z)).",
    )
    parser.add_argument(
        "args",
        nargs="*",
        metavar="CONFIG.yaml | NAME | key=value",
        help="a YAML config or the name of a bundled one (optional with --quickstart and "
        "--show-config), then key=value overrides",
    )
    parser.add_argument(
        "--quickstart", action="store_true", help="use the bundled quickstart config"
    )
    parser.add_argument(
        "--list-methods", action="store_true", help="list registered methods and metrics"
    )
    parser.add_argument(
        "--show-config", action="store_true", help="print the resolved config and exit"
    )
    parser.add_argument(
        "--describe",
        action="store_true",
        help="with --show-config: every key with its type, default and allowed values",
    )
    return parser


def _error(message: str) -> int:
    print(f"req-train: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_intermixed_args(argv)
    if args.list_methods:
        from req_plugins.plugins import get_registry

        print(get_registry().describe())
        return 0

    if args.describe:
        if not args.show_config:
            return _error("--describe goes with --show-config")
        from req_plugins.lightly.schema import describe

        print(describe())
        return 0
    from req_plugins.lightly.config import bundled_config, load_config

    overrides = list(args.args)
    config_path = None
    if overrides and "=" not in overrides[0]:
        config_path = overrides.pop(0)
    if args.quickstart and config_path is not None:
        return _error("--quickstart takes overrides only, not a config file")
    if config_path is None and not (args.quickstart or args.show_config):
        _parser().print_usage(sys.stderr)
        return _error("give a CONFIG.yaml, a bundled config name, --quickstart or --list-methods")
    try:
        if args.quickstart:
            config_path = bundled_config(QUICKSTART)
        elif config_path is not None and not config_path.endswith((".yaml", ".yml")):
            config_path = bundled_config(config_path)
        config = load_config(config_path, overrides)
        if args.show_config:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(config), end="")
            return 0
    except ValueError as error:
        return _error(str(error))
    from req_plugins.lightly.report import format_results
    from req_plugins.lightly.schema import ConfigError
    from req_plugins.lightly.train import train
    from req_plugins.rundir import RunLockedError

    try:
        results = train(config)
    except (ConfigError, RunLockedError) as error:  # raised before anything is written
        return _error(str(error))
    except Exception:  # noqa: BLE001 - a failure during training: show it, exit 1
        traceback.print_exc()
        print(
            "req-train: training failed (traceback above); files written before the failure "
            f"are intact in {config.output_dir!r}.",
            file=sys.stderr,
        )
        return 1
    if results:
        print()
        print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
