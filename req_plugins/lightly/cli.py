"""``req-train``: pretrain, evaluate and report a self-supervised method from a YAML config.

Usage::

    req-train CONFIG.yaml [key=value ...]     train with a config file and overrides
    req-train --quickstart [key=value ...]    the bundled quickstart (digits, CPU, minutes)
    req-train --list-methods                  registered methods/metrics and their packages
    req-train --show-config [CONFIG.yaml] [key=value ...]   print the resolved config

Bad configs fail before anything is written, with exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from omegaconf import OmegaConf

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
        metavar="CONFIG.yaml | key=value",
        help="a YAML config (optional with --quickstart/--show-config) then overrides",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list_methods:
        from req_plugins.plugins import get_registry

        print(get_registry().describe())
        return 0

    from req_plugins.lightly.config import bundled_config, load_config

    positional = list(args.args)
    config_path = None
    if positional and "=" not in positional[0]:
        config_path = positional.pop(0)
    if args.quickstart:
        if config_path is not None:
            print(
                "req-train: error: --quickstart takes overrides only, not a config file",
                file=sys.stderr,
            )
            return 2
        config_path = bundled_config(QUICKSTART)
    elif config_path is None and not args.show_config:
        _parser().print_usage(sys.stderr)
        print(
            "req-train: error: give a CONFIG.yaml, --quickstart or --list-methods", file=sys.stderr
        )
        return 2
    try:
        config = load_config(config_path, positional)
        if args.show_config:
            print(OmegaConf.to_yaml(config), end="")
            return 0
        from req_plugins.lightly.train import format_results, train

        results = train(config)
    except ValueError as error:
        print(f"req-train: error: {error}", file=sys.stderr)
        return 2
    if results:
        print()
        print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
