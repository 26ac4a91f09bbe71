"""The `binclf` command: list model versions, print a card, promote and roll back, rebuild a
lost champion pointer from the audit log, and clean up leftovers and old rejected versions.

Every command works on the dataset named by `$BINCLF_DATASET` (the demo without it) and the
state folder `$BINCLF_STATE` (`./.state` without it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from binclf.io import state
from binclf.register.registry import Registry, RegistryError
from binclf.register.registry_retention import DEFAULT_KEEP_REJECTED
from binclf.spec import SpecError, load_spec


def _registry(args: argparse.Namespace) -> tuple[Registry, str]:
    dataset = args.dataset or load_spec().name
    return Registry(state.registry_dir(state.state_root(args.state))), dataset


def _metric(metadata: dict, name: str) -> str:
    value = (metadata.get("metrics") or {}).get(name)
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def cmd_models(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    versions = registry.versions(dataset)
    if not versions:
        print(f"no model versions for dataset {dataset!r}")
        return 0
    header = f"{'version':<8} {'created':<20} {'family':<9} {'roc_auc':>8} {'pr_auc':>8} status"
    print(f"dataset {dataset}\n{header}")
    for info in versions:
        meta = info.metadata
        print(
            f"{info.version:<8} {info.created_at[:19]:<20} {meta.get('family', '-'):<9} "
            f"{_metric(meta, 'roc_auc'):>8} {_metric(meta, 'pr_auc'):>8} {info.status}"
        )
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    version = args.version or registry.champion(dataset)
    if version is None:
        latest = registry.latest(dataset)
        if latest is None:
            print(f"no model versions for dataset {dataset!r}", file=sys.stderr)
        else:  # never show a rejected or untried version as if it were the model in use
            status = next(v.status for v in registry.versions(dataset) if v.version == latest)
            print(
                f"dataset {dataset!r} has no champion; the newest version {latest} is {status}: "
                f"`binclf card --version {latest}` shows its card",
                file=sys.stderr,
            )
        return 1
    files = registry.open_files(dataset, version, names=["card.json"])
    card = json.loads(files["card.json"])
    card["version"] = version
    card["status"] = next(v.status for v in registry.versions(dataset) if v.version == version)
    card["decisions"] = [record["decision"] for record in registry.decisions(dataset, version)]
    headlines = [d["headline"] for d in card["decisions"] if d.get("headline")]
    if headlines:
        card["promotion_headline"] = headlines[-1]
    json.dump(card, sys.stdout, indent=2)
    print()
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    registry.open_files(dataset, args.version)  # refuses a tampered or unknown version
    current = registry.champion(dataset)
    moved = registry.promote(
        dataset,
        args.version,
        expected_champion=current,
        reason=args.reason,
        decision={"promote": True, "reason_codes": ["MANUAL"], "previous": current},
    )
    if not moved:
        print("another promotion moved the champion first; nothing changed", file=sys.stderr)
        return 1
    print(f"{dataset}: champion is now {args.version} (was {current or 'none'})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    current = registry.champion(dataset)
    version = registry.rollback(dataset, reason=args.reason)
    print(f"{dataset}: champion rolled back from {current} to {version}")
    return 0


def cmd_registry_repair(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    rebuilt = registry.repair(dataset)
    champion = registry.champion(dataset) or "none"
    if rebuilt:
        print(f"{dataset}: champion pointer rebuilt from the audit log; champion is {champion}")
    else:
        print(f"{dataset}: champion pointer matches the audit log; champion is {champion}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    registry, dataset = _registry(args)
    report = registry.collect_garbage(dataset, keep_rejected=args.keep_rejected)
    print(
        f"{dataset}: removed {len(report.removed)} leftovers of interrupted writes; "
        f"pruned {len(report.pruned)} rejected versions"
        + (f" ({', '.join(report.pruned)})" if report.pruned else "")
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="binclf", description=__doc__)
    parser.add_argument("--dataset", help="dataset name (default: the spec's name)")
    parser.add_argument("--state", help="state folder (default: $BINCLF_STATE or ./.state)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list model versions").set_defaults(run=cmd_models)
    card = commands.add_parser("card", help="print a version's model card as JSON")
    card.add_argument("--version", help="default: the champion")
    card.set_defaults(run=cmd_card)
    promote = commands.add_parser("promote", help="make VERSION the champion")
    promote.add_argument("version")
    promote.add_argument("--reason", default="manual promotion from the command line")
    promote.set_defaults(run=cmd_promote)
    rollback = commands.add_parser("rollback", help="restore the previous champion")
    rollback.add_argument("--reason", default="manual rollback from the command line")
    rollback.set_defaults(run=cmd_rollback)
    registry = commands.add_parser("registry", help="registry maintenance")
    maintenance = registry.add_subparsers(dest="registry_command", required=True)
    repair = maintenance.add_parser(
        "repair", help="rebuild a missing or unreadable champion pointer from the audit log"
    )
    repair.set_defaults(run=cmd_registry_repair)
    gc = commands.add_parser(
        "gc", help="remove leftovers of killed writes and heavy files of old rejected versions"
    )
    gc.add_argument(
        "--keep-rejected",
        type=int,
        default=None,
        help=f"rejected versions that keep their files (default {DEFAULT_KEEP_REJECTED})",
    )
    gc.set_defaults(run=cmd_gc)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (RegistryError, SpecError) as exc:
        print(f"binclf: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
