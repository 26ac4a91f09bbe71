"""Benchmark the pipeline at several sizes and print one table (`make bench`).

For each size, two fresh processes run the same work on their own state folder: the Dagster jobs
in process, and the same binclf calls as a plain script. Each process reports wall time, CPU time
and peak resident memory of ingest + validation, training (search + refit among its steps),
scoring, drift and label status; the plain process then times evidently's DataDriftPreset next to
the fast drift path on the newest partition. The machine's load average is printed with each
size, since wall times on a shared machine include waiting for a core; CPU times do not. The
orchestration overhead is printed per phase, and the 10 % target at 100k rows is judged on
training + monitoring: ingest is one batch step on both paths.
The runs set OMP_WAIT_POLICY=passive unless told otherwise: LightGBM's OpenMP threads spin while
they wait, and on a busy machine that made 2-thread fits 3-4x slower.

    python -m benchmarks.run                       # 100k and 1M rows
    python -m benchmarks.run --rows 100000         # one size
    python -m benchmarks.run --ten-million         # a 10M-row training window (run it alone)
    python -m benchmarks.run --rows 100000 --paths dagster --instance postgres   # DAGSTER_PG_URL
    python -m benchmarks.run --paths plain --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.pipeline_bench import GIB, INSTANCES, BenchSettings, load_average

DEFAULT_SIZES = (100_000, 1_000_000)
# About 84 % of the demo's events are labeled when the stream ends: 12M events give a training
# window of about 10M rows.
TEN_MILLION_WINDOW_EVENTS = 12_000_000
PATHS = ("dagster", "plain")

# Targets on 2 cores; the training target is judged on windows of at least 90 % of 10M rows.
TRAINING_TARGET_WINDOW = 10_000_000
TRAINING_TARGET_SECONDS = 20 * 60
TRAINING_TARGET_BYTES = 8 * GIB
SCORING_DRIFT_TARGET_ROWS = 1_000_000
SCORING_DRIFT_TARGET_SECONDS = 30.0
OVERHEAD_TARGET_ROWS = 100_000
OVERHEAD_TARGET = 0.10

STEP_ROWS = [
    ("ingest", "total", "ingest + validation"),
    ("training", "total", "training (all steps)"),
    ("training", "training_window", "  window"),
    ("training", "training_splits", "  splits"),
    ("training", "model_search", "  search + refit"),
    ("training", "calibration", "  calibration"),
    ("training", "decision_threshold", "  threshold"),
    ("training", "candidate_evaluation", "  evaluation"),
    ("training", "model_candidate", "  registration + gates"),
    ("training", "champion_decision", "  champion decision"),
    ("monitoring", "scores", "scoring"),
    ("monitoring", "drift", "drift"),
    ("monitoring", "label_status_report", "label status"),
    ("monitoring", "total", "monitoring (all steps)"),
]


def _worker(args: argparse.Namespace) -> None:
    """One path at one size in this process; writes its measurements as JSON."""
    from benchmarks.pipeline_bench import (
        bench_spec,
        drift_comparison,
        run_dagster,
        run_plain,
        warm_imports,
    )
    from binclf.io.state import OPTUNA_STORAGE_ENV

    os.environ.pop(OPTUNA_STORAGE_ENV, None)  # a fresh study in each run's own state folder
    settings = BenchSettings(n_trials=args.trials, num_threads=args.threads)
    spec = bench_spec(args.rows[0], days=args.days)
    warm_imports()
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.worker}-") as root:
        if args.worker == "dagster":
            result = run_dagster(spec, Path(root), settings, instance_kind=args.instance)
        else:
            result = run_plain(spec, Path(root), settings)
        if args.worker == "plain" and not args.skip_evidently:
            drift_comparison(spec, Path(root), result.measurements)
    Path(args.out).write_text(
        json.dumps(
            {
                "path": result.path,
                "rows": result.rows,
                "measurements": [asdict(m) for m in result.measurements],
            }
        )
    )


def _run_path(path: str, rows: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--worker",
            path,
            "--rows",
            str(rows),
            "--days",
            str(args.days),
            "--trials",
            str(args.trials),
            "--threads",
            str(args.threads),
            "--instance",
            args.instance,
            "--out",
            out.name,
        ]
        if args.skip_evidently:
            command.append("--skip-evidently")
        env = dict(os.environ)
        if args.omp_wait_policy != "default":
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        load_before = load_average()
        subprocess.run(command, check=True, env=env)
        result = json.loads(Path(out.name).read_text())
    result["load"] = {"before": load_before, "after": load_average()}
    return result


def _find(result: dict[str, Any] | None, phase: str, step: str) -> dict[str, Any] | None:
    if result is None:
        return None
    return next(
        (m for m in result["measurements"] if m["phase"] == phase and m["step"] == step), None
    )


def _seconds(entry: dict[str, Any] | None) -> str:
    return "" if entry is None else f"{entry['wall_seconds']:.1f} s"


def _memory(entry: dict[str, Any] | None) -> str:
    if entry is None or entry.get("peak_rss_bytes") is None:
        return ""
    return f"{entry['peak_rss_bytes'] / GIB:.2f} GiB"


def _cpu(entry: dict[str, Any] | None) -> str:
    if entry is None or entry.get("cpu_seconds") is None:
        return ""
    return f"{entry['cpu_seconds']:.1f} s"


def _overhead(
    dagster: dict[str, Any] | None, plain: dict[str, Any] | None, key: str = "wall_seconds"
) -> str:
    if dagster is None or plain is None or dagster.get(key) is None or not plain.get(key):
        return ""
    return f"{dagster[key] / plain[key] - 1:+.1%}"


ALL_PHASES = ("ingest", "training", "monitoring")
# The overhead target is judged on these: ingest is one batch step on both paths and too short to
# flatter or spoil the verdict either way.
JUDGED_PHASES = ("training", "monitoring")


def _total(
    result: dict[str, Any] | None,
    key: str = "wall_seconds",
    phases: tuple[str, ...] = ALL_PHASES,
) -> float | None:
    """The sum over `phases` of wall or CPU seconds."""
    if result is None:
        return None
    entries = [_find(result, phase, "total") for phase in phases]
    if any(e is None for e in entries):
        return None
    return sum(e[key] for e in entries if e)


def _search_work(dagster: dict[str, Any] | None, plain: dict[str, Any] | None) -> str:
    """Trials and LightGBM rounds of each path's search: equal numbers mean equal work."""
    parts = []
    for name, result in (("dagster", dagster), ("plain", plain)):
        entry = _find(result, "training", "total")
        if entry and "trials" in entry["notes"]:
            parts.append(
                f"{name} {entry['notes']['trials']} trials / {entry['notes']['rounds']} rounds"
            )
    return "search: " + ", ".join(parts)


def _overhead_search_equalized(
    dagster: dict[str, Any] | None,
    plain: dict[str, Any] | None,
    phases: tuple[str, ...] = ALL_PHASES,
) -> float | None:
    """Wall-time overhead of everything but the search, relative to the plain path's total."""
    d_total, p_total = _total(dagster, phases=phases), _total(plain, phases=phases)
    d_search, p_search = (_find(r, "training", "model_search") for r in (dagster, plain))
    if d_total is None or not p_total or d_search is None or p_search is None:
        return None
    return (d_total - d_search["wall_seconds"] + p_search["wall_seconds"]) / p_total - 1


def _phase_overheads(dagster: dict[str, Any] | None, plain: dict[str, Any] | None) -> None:
    """One line per phase and one for the judged phases together: wall and CPU overhead."""
    groups = [((phase,), phase) for phase in ALL_PHASES]
    groups.append((JUDGED_PHASES, " + ".join(JUDGED_PHASES) + " (judged)"))
    print("overhead per phase (wall, CPU):")
    for phases, label in groups:
        wall = [_total(r, phases=phases) for r in (dagster, plain)]
        cpu = [_total(r, "cpu_seconds", phases) for r in (dagster, plain)]
        if None in wall or None in cpu or not wall[1] or not cpu[1]:
            continue
        print(
            f"  {label:<36} {wall[0]:>7.1f} s vs {wall[1]:>7.1f} s "
            f"{wall[0] / wall[1] - 1:>+8.1%}   CPU {cpu[0]:>6.1f} s vs {cpu[1]:>6.1f} s "
            f"{cpu[0] / cpu[1] - 1:>+8.1%}"
        )


def print_size(rows: int, results: dict[str, dict[str, Any]]) -> list[str]:
    """Print the table of one size; return the target verdicts it supports."""
    dagster, plain = results.get("dagster"), results.get("plain")
    any_result = dagster or plain
    assert any_result is not None
    training = _find(plain, "training", "total") or _find(dagster, "training", "total")
    notes = training["notes"] if training else {}
    loads = "; ".join(
        f"{path} {r['load']['before'][0]:.1f}→{r['load']['after'][0]:.1f}"
        for path, r in results.items()
    )
    ingest = _find(plain, "ingest", "total")
    generated = ingest["notes"].get("rows") if ingest else None
    print(
        f"\n== {rows:,} rows ({'' if generated is None else f'{generated:,} generated, '}"
        f"training window {notes.get('window_rows', '?'):,}, refit on "
        f"{notes.get('refit_rows', '?'):,}, winner {notes.get('family', '?')}, "
        f"{_search_work(dagster, plain)}) "
        f"- load average 1 min before→after: {loads}"
    )
    header = (
        f"{'step':<24} {'dagster':>9} {'cpu':>8} {'peak':>9} {'plain':>9} {'cpu':>8} "
        f"{'peak':>9} {'overhead':>9} {'(cpu)':>8}"
    )
    print(header)
    print("-" * len(header))
    for phase, step, label in STEP_ROWS:
        d, p = _find(dagster, phase, step), _find(plain, phase, step)
        if d is None and p is None:
            continue
        print(
            f"{label:<24} {_seconds(d):>9} {_cpu(d):>8} {_memory(d):>9} {_seconds(p):>9} "
            f"{_cpu(p):>8} {_memory(p):>9} {_overhead(d, p):>9} "
            f"{_overhead(d, p, 'cpu_seconds'):>8}"
        )
    d_total, p_total = _total(dagster), _total(plain)
    d_cpu, p_cpu = _total(dagster, "cpu_seconds"), _total(plain, "cpu_seconds")
    if d_total is not None and p_total is not None and d_cpu is not None and p_cpu:
        print(
            f"{'all phases':<24} {d_total:>7.1f} s {d_cpu:>6.1f} s {'':>9} {p_total:>7.1f} s "
            f"{p_cpu:>6.1f} s {'':>9} {d_total / p_total - 1:>+9.1%} {d_cpu / p_cpu - 1:>+8.1%}"
        )
    _phase_overheads(dagster, plain)
    equalized = _overhead_search_equalized(dagster, plain, JUDGED_PHASES)
    if equalized is not None:
        print(
            f"{' + '.join(JUDGED_PHASES)} overhead with the search's wall time taken as "
            f"equal: {equalized:+.1%} "
            "(both paths run the same trials; their timing alone varies by several %)"
        )
    fast, evidently = (_find(plain, "drift_comparison", s) for s in ("fast_path", "evidently_html"))
    if fast and evidently:
        print(
            f"drift of the newest partition ({fast['notes']['rows']:,} rows): fast path "
            f"{fast['wall_seconds']:.2f} s, {_memory(fast)}; evidently DataDriftPreset + HTML "
            f"(vs its {evidently['notes']['reference_rows']:,}-row reference sample) "
            f"{evidently['wall_seconds']:.2f} s, {_memory(evidently)}, "
            f"{evidently['notes']['html_mb']} MB HTML"
        )
    judged = [
        tuple(_total(r, key, JUDGED_PHASES) for r in (dagster, plain))
        for key in ("wall_seconds", "cpu_seconds")
    ]
    return _verdicts(rows, dagster, plain, judged[0], judged[1], equalized)


def _verdicts(
    rows: int,
    dagster: dict[str, Any] | None,
    plain: dict[str, Any] | None,
    wall: tuple[float | None, float | None],
    cpu: tuple[float | None, float | None],
    equalized: float | None,
) -> list[str]:
    verdicts = []
    for name, result in (("dagster", dagster), ("plain", plain)):
        entry = _find(result, "training", "total")
        if entry and entry["notes"].get("window_rows", 0) >= 0.9 * TRAINING_TARGET_WINDOW:
            seconds, peak = entry["wall_seconds"], entry["peak_rss_bytes"]
            verdicts.append(
                f"{entry['notes']['window_rows']:,}-row window, {name}: training "
                f"{seconds / 60:.1f} min (target <= {TRAINING_TARGET_SECONDS / 60:.0f}: "
                f"{'met' if seconds <= TRAINING_TARGET_SECONDS else 'MISSED'}), peak "
                f"{peak / GIB:.2f} GiB (target <= 8: "
                f"{'met' if peak <= TRAINING_TARGET_BYTES else 'MISSED'})"
            )
    if rows == SCORING_DRIFT_TARGET_ROWS:
        for name, result in (("dagster", dagster), ("plain", plain)):
            parts = [_find(result, "monitoring", s) for s in ("scores", "drift")]
            if all(parts):
                seconds = sum(p["wall_seconds"] for p in parts if p)
                verdicts.append(
                    f"{rows:,} rows, {name}: scoring + drift {seconds:.1f} s (target <= "
                    f"{SCORING_DRIFT_TARGET_SECONDS:.0f}: "
                    f"{'met' if seconds <= SCORING_DRIFT_TARGET_SECONDS else 'MISSED'})"
                )
    if rows == OVERHEAD_TARGET_ROWS:
        for kind, (d_total, p_total) in (("wall", wall), ("CPU", cpu)):
            if d_total is None or not p_total:
                continue
            overhead = d_total / p_total - 1
            verdicts.append(
                f"{rows:,} rows: orchestration overhead of {' + '.join(JUDGED_PHASES)} in {kind} "
                f"time {overhead:+.1%} (target <= "
                f"{OVERHEAD_TARGET:.0%}: {'met' if overhead <= OVERHEAD_TARGET else 'MISSED'})"
            )
        if equalized is not None:
            verdicts.append(
                f"{rows:,} rows: orchestration overhead of {' + '.join(JUDGED_PHASES)} with "
                f"equal search time {equalized:+.1%} "
                f"(target <= {OVERHEAD_TARGET:.0%}: "
                f"{'met' if equalized <= OVERHEAD_TARGET else 'MISSED'})"
            )
    return verdicts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", help="sizes (default 100k and 1M)")
    parser.add_argument(
        "--ten-million",
        action="store_true",
        help="a 10M-row training window (12M events). Run it alone: both paths take about "
        "35 minutes on 2 cores and peak near 13 GiB of memory",
    )
    parser.add_argument("--days", type=int, default=40, help="daily partitions of each size")
    parser.add_argument("--trials", type=int, default=BenchSettings.n_trials)
    parser.add_argument("--threads", type=int, default=BenchSettings.num_threads)
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument(
        "--instance",
        choices=INSTANCES,
        default="sqlite",
        help="the Dagster instance of the dagster path: SQLite files (as `make demo`), memory, "
        "or postgres (deploy/postgres/dagster.yaml; set DAGSTER_PG_URL to an empty database)",
    )
    parser.add_argument(
        "--omp-wait-policy",
        choices=("passive", "active", "default"),
        default="passive",
        help="OMP_WAIT_POLICY of the runs; LightGBM's spinning threads lose badly to other "
        "processes on a shared machine ('default' leaves the environment as it is)",
    )
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    sizes = list(args.rows or ([] if args.ten_million else DEFAULT_SIZES))
    if args.ten_million:
        sizes.append(TEN_MILLION_WINDOW_EVENTS)
    print(
        f"binclf benchmark: {args.days} daily partitions per size, search {args.trials} trials "
        f"on <= {BenchSettings.search_sample_rows:,} sampled rows, {args.threads} LightGBM "
        f"threads, OMP_WAIT_POLICY {args.omp_wait_policy}, {os.cpu_count()} CPUs, "
        f"{args.instance} Dagster instance"
    )
    everything: dict[str, Any] = {}
    verdicts: list[str] = []
    for rows in sizes:
        results = {path: _run_path(path, rows, args) for path in args.paths}
        everything[str(rows)] = results
        verdicts += print_size(rows, results)
    if verdicts:
        print("\nTargets")
        for line in verdicts:
            print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
