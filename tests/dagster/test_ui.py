"""The Dagster UI serves the code location and tells the truth about a small end-to-end story.

The expected assets and checks come from `pipelines.definitions.defs`, so the test follows the
pipeline as it grows and fails when the location does not load or the UI misses anything.
Before the webserver starts, the module plays a story on a persistent instance over a copy of the
trained tiny state: a retraining launched through the workspace (so `training_job` lists it), a
monitoring run over a range of days, a tick of the drift sensor by the daemon, the model health
view, and a candidate rejected by a strict gate (`ui_story`). The UI's GraphQL API must then show
each day its own stored numbers, each check on its own candidate, and the sensor's tick.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from pipeline_support import (
    ALL_KEYS,
    CHANGE_POINT_DAY,
    PipelineWorld,
    TrainedTemplate,
    tiny_spec_data,
)
from ui_queries import (
    check_targets,
    job_runs,
    materialization_metadata,
    materializations_by_run,
    sensor_ticks,
)
from ui_story import DRIFT_SENSOR, MONITORED, Story, hold_drift_retrains, play_story
from ui_support import (
    LocationGraph,
    Webserver,
    capture_page,
    chromium_binary,
    dismiss_community_popup,
    png_dimensions,
    running_webserver,
    wait_for_location,
    workspace_location,
)

from pipelines.season_setup import write_instance_config

pytestmark = pytest.mark.ui
pytest_plugins = ["pipeline_support"]

MODULE = "pipelines.definitions"
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
SCREENSHOT_GROUP = "ingest"
WINDOW = (1600, 1000)
MIN_SCREENSHOT_BYTES = 20_000


@pytest.fixture(scope="module")
def expected(story: Story) -> LocationGraph:
    """Asset keys with their groups and asset check keys, as the definitions of the story's
    dataset (the one the served code location loads) declare them."""
    graph = story.world.defs.resolve_asset_graph()
    return LocationGraph(
        asset_groups={
            tuple(key.path): graph.get(key).group_name for key in graph.get_all_asset_keys()
        },
        checks={(tuple(key.asset_key.path), key.name) for key in graph.asset_check_keys},
    )


@pytest.fixture(scope="module")
def location() -> str:
    return workspace_location(WORKSPACE, MODULE)


SCREENSHOTS_ENV = "UI_SCREENSHOTS"  # a folder that keeps the story's pages and charts (docs/)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui")


@pytest.fixture(scope="module")
def story(trained_template: TrainedTemplate, scratch: Path) -> Iterator[Story]:
    """The trained tiny state in `scratch/state`, a persistent instance in `scratch/home`, the
    story played on them; the environment names both, for the daemon and the webserver."""
    home = scratch / "home"
    write_instance_config(home)
    hold_drift_retrains(home)
    spec_path = scratch / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec_data(), default_flow_style=False))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.setenv("BINCLF_DATASET", str(spec_path))
        env.setenv("BINCLF_STATE", str(scratch / "state"))
        copy = trained_template.copy_to(scratch)
        with DagsterInstance.from_config(str(home)) as instance:
            yield play_story(dataclasses.replace(copy, instance=instance))


@pytest.fixture(scope="module")
def served(story: Story, scratch: Path, location: str) -> Iterator[tuple[Webserver, LocationGraph]]:
    """A webserver on loopback over the story's instance and state, and what GraphQL reports."""
    with running_webserver(workspace=WORKSPACE, scratch=scratch) as server:
        yield server, wait_for_location(server, location)


def _stored(world: PipelineWorld, asset: str, key: str) -> dict[str, Any]:
    return json.loads(world.store.path(asset, key).with_suffix(".json").read_text())


def test_code_location_serves_every_asset_and_check(
    served: tuple[Webserver, LocationGraph], expected: LocationGraph
) -> None:
    _, reported = served
    assert expected.checks, "the definitions declare no asset checks"
    assert reported.asset_groups == expected.asset_groups
    assert reported.checks == expected.checks


@pytest.mark.skipif(chromium_binary() is None, reason="the `chromium` binary is not installed")
def test_asset_graph_screenshot_shows_the_group_without_popups(
    served: tuple[Webserver, LocationGraph],
    expected: LocationGraph,
    location: str,
    tmp_path: Path,
) -> None:
    server, _ = served
    group_assets = [
        key for key, group in expected.asset_groups.items() if group == SCREENSHOT_GROUP
    ]
    assert group_assets, f"the definitions have no asset group {SCREENSHOT_GROUP!r}"
    dismiss_community_popup(server)
    png_path = tmp_path / f"asset-graph-{SCREENSHOT_GROUP}.png"

    dom = capture_page(
        f"{server.url}/locations/{location}/asset-groups/{SCREENSHOT_GROUP}",
        chromium=str(chromium_binary()),
        png_path=png_path,
        profile_dir=tmp_path / "chromium-profile",
        window=WINDOW,
    )

    png = png_path.read_bytes()
    assert png_dimensions(png) == WINDOW
    assert len(png) > MIN_SCREENSHOT_BYTES
    assert 'role="dialog"' not in dom, "a dialog covers the asset graph"
    missing = [key for key in group_assets if f'data-tooltip="{key[-1]}"' not in dom]
    assert not missing, f"assets not drawn in the graph: {missing}"


def test_each_day_shows_its_own_drift_and_scores_in_the_ui(
    served: tuple[Webserver, LocationGraph], story: Story
) -> None:
    server, _ = served
    drift = materialization_metadata(server, "drift")
    scores = materialization_metadata(server, "scores")
    world = story.world

    for key in MONITORED:
        stored = _stored(world, "drift", key)
        assert drift[key]["share_drifted"] == pytest.approx(stored["share_drifted"]), key
        assert drift[key]["n_rows"] == stored["n_rows"], key
        assert drift[key]["alarm"] == stored["alarm"], key
        assert drift[key]["model_version"] == stored["model_version"], key
        assert drift[key]["drifted_columns"] == (", ".join(stored["drifted_columns"]) or "none")
        frame = world.store.read("scores", key)
        assert scores[key]["rows"] == frame.height, key
        assert scores[key]["model_version"] == frame["model_version"][0], key
        assert scores[key]["flag_rate"] == pytest.approx(frame["decision"].mean()), key
        assert scores[key]["mean_probability"] == pytest.approx(frame["probability"].mean())
    assert len({drift[k]["share_drifted"] for k in MONITORED}) > 1  # not one day's copied


def test_training_job_lists_the_launched_run_and_the_rejection_is_on_the_candidate(
    served: tuple[Webserver, LocationGraph], story: Story, location: str
) -> None:
    server, _ = served

    runs = job_runs(server, location, "training_job")
    candidate = materialization_metadata(server, "model_candidate")[None]
    decision = materialization_metadata(server, "champion_decision")[None]

    # in-process runs are not listed; the sensor's retrain waits in the queue
    assert {r["runId"]: r["status"] for r in runs} == {
        story.launched_training: "SUCCESS",
        story.drift_retrain: "QUEUED",
    }
    assert candidate["version"] == story.rejected and candidate["status"] == "rejected"
    assert candidate["rejection"].startswith(f"**REJECT {story.rejected}** — gates failed: ")
    assert "min_roc_auc" in candidate["rejection"]
    assert decision["headline"].split()[0] in ("PROMOTE", "REJECT")  # the launched run's
    assert decision["version"] != story.rejected  # a blocked gate leaves no decision


def test_drift_sensor_shows_its_tick_and_the_run_it_requested(
    served: tuple[Webserver, LocationGraph], story: Story, location: str
) -> None:
    server, _ = served

    ticks = sensor_ticks(server, location, DRIFT_SENSOR)

    (tick,) = ticks  # the daemon ticked it once: at start, with the drift already stored
    assert tick["status"] == "SUCCESS"
    assert tick["runIds"] == [story.drift_retrain]
    (run_key,) = tick["runKeys"]
    first, last = run_key.split("@")[0].removeprefix("drift:").split("..")
    assert ALL_KEYS[CHANGE_POINT_DAY] <= first < last == MONITORED[-1]


def test_each_candidates_gate_checks_target_its_own_materialization(
    served: tuple[Webserver, LocationGraph], story: Story, expected: LocationGraph
) -> None:
    server, _ = served
    version_of_run = {
        run: metadata["version"]
        for run, metadata in materializations_by_run(server, "model_candidate").items()
    }
    checks = [name for asset, name in expected.checks if asset == ("model_candidate",)]

    targets = {name: check_targets(server, "model_candidate", name) for name in checks}

    assert checks
    for name, pairs in targets.items():
        evaluated = {version_of_run[run] for run, target in pairs if target is not None}
        assert {story.trained, story.rejected} <= evaluated, name
        for run, target in pairs:  # the held retrain made no candidate and evaluated nothing
            assert target == (run if run in version_of_run else None), (name, run, target)


def test_model_health_shows_its_charts(served: tuple[Webserver, LocationGraph]) -> None:
    server, _ = served

    health = materialization_metadata(server, "model_health")[None]

    charts = [label for label in health if label.startswith("chart_")]
    assert {"chart_drift_share", "chart_feature_drift"} <= set(charts)
    assert all("data:image/png;base64," in health[label] for label in charts)


def _small_png(path: Path) -> None:
    """Keep a screenshot small: a 256-colour palette is plenty for a UI page."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)


@pytest.mark.skipif(chromium_binary() is None, reason="the `chromium` binary is not installed")
def test_health_page_promotion_and_a_days_drift_report_render(
    served: tuple[Webserver, LocationGraph], story: Story, tmp_path: Path
) -> None:
    server, _ = served
    dismiss_community_popup(server)
    drift = materialization_metadata(server, "drift")
    alarm_day = next(k for k in reversed(MONITORED) if drift[k]["alarm"])
    report = Path(drift[alarm_day]["html_report"])
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    pages = {
        "ui-health": f"{server.url}/assets/model_health?view=events",
        "ui-drift-day": f"{server.url}/assets/drift?view=partitions&partition={alarm_day}",
        "ui-drift-report": report.as_uri(),
        "ui-promotion": f"{server.url}/assets/champion_decision?view=events",
    }

    doms = {}
    for name, url in pages.items():
        png = folder / f"{name}.png"
        doms[name] = capture_page(
            url,
            chromium=str(chromium_binary()),
            png_path=png,
            profile_dir=tmp_path / "chromium-profile",
            window=(1280, 900),
        )
        assert png_dimensions(png.read_bytes()) == (1280, 900)
        _small_png(png)

    health_chart = story.world.store.path("model_health").parent / "drift_share.png"
    shutil.copyfile(health_chart, folder / "ui-health-drift-share.png")
    decision = materialization_metadata(server, "champion_decision")[None]
    for name in ("precision_recall", "reliability"):
        encoded = decision[f"plot_{name}"].split("base64,")[1].rstrip(")")
        (folder / f"ui-promotion-{name}.png").write_bytes(base64.b64decode(encoded))

    assert report.parent.name == drift[alarm_day]["model_version"]  # named by version
    assert f"Drift of {alarm_day} against {report.parent.name}" in doms["ui-drift-report"]
    assert "chart_drift_share" in doms["ui-health"] and "per_day" in doms["ui-health"]
    assert decision["headline"].split(" — ")[0] in doms["ui-promotion"]  # e.g. PROMOTE v0002 …
    assert png_dimensions((folder / "ui-promotion-reliability.png").read_bytes()) == (600, 450)
