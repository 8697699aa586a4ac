"""``ghostnas space show FILE|NAME``: a space's effective axes (``extends`` resolved, equivalent
choices merged) and its cardinality (distinct architectures); ``--toml`` prints the effective spec."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="inspect search spaces")
    ssub = p.add_subparsers(dest="space_command", metavar="ACTION", required=True)
    show = ssub.add_parser("show", help="print a space's axes, choices, default point and cardinality")
    show.add_argument("space", help="a .toml file or a shipped space name (ghostnet, ghostnet_cifar, ...)")
    show.add_argument("--default-json", action="store_true", help="also print the default architecture as JSON")
    show.add_argument("--toml", action="store_true",
                      help="also print the effective space (its extends chain resolved) as TOML")
    show.set_defaults(func=run_show)
    ls = ssub.add_parser("list", help="list the shipped spaces")
    ls.set_defaults(func=run_list)


def run_show(args: argparse.Namespace) -> int:
    from ghostnas.space import load_space

    space = load_space(args.space)
    print(space.describe())
    if args.toml:
        print("\n# effective space" + (f" ({space.name} extends {' <- '.join(space.extends)})" if space.extends else ""))
        print(space.to_toml(), end="")
    if args.default_json:
        d = space.default()
        print(json.dumps({"id": d.id, **d.to_dict()}, indent=1))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ghostnas.space import SPACE_DIR, list_spaces

    for name in list_spaces():
        print(f"{name:<24} {SPACE_DIR / (name + '.toml')}")
    return 0
