"""The Dagster UI serves the code location: all assets and checks over GraphQL, the graph on screen.

The expected assets and checks come from `pipelines.definitions.defs`, so the test follows the
pipeline as it grows and fails when the location does not load or the UI misses anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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

pytestmark = pytest.mark.ui

MODULE = "pipelines.definitions"
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
SCREENSHOT_GROUP = "ingest"
WINDOW = (1600, 1000)
MIN_SCREENSHOT_BYTES = 20_000


@pytest.fixture(scope="module")
def expected() -> LocationGraph:
    """Asset keys with their groups and asset check keys, as the definitions declare them."""
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    return LocationGraph(
        asset_groups={
            tuple(key.path): graph.get(key).group_name for key in graph.get_all_asset_keys()
        },
        checks={(tuple(key.asset_key.path), key.name) for key in graph.asset_check_keys},
    )


@pytest.fixture(scope="module")
def location() -> str:
    return workspace_location(WORKSPACE, MODULE)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, location: str
) -> Iterator[tuple[Webserver, LocationGraph]]:
    """A webserver on loopback with the location loaded, and what its GraphQL API reports."""
    with running_webserver(workspace=WORKSPACE, scratch=tmp_path_factory.mktemp("ui")) as server:
        yield server, wait_for_location(server, location)


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
