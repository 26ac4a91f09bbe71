"""Drive the Dagster UI from tests: a loopback webserver, its GraphQL API, a headless Chromium.

The webserver runs in its own process group with a throw-away `DAGSTER_HOME` and pipeline state,
so a test sees a fresh instance and never touches the project's `.state`. It is stopped by
process group, which also ends the code server it spawns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=20000",
)
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
LOCATION_QUERY = """
query Location {
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              assetNodes {
                assetKey { path }
                groupName
                assetChecksOrError {
                  __typename
                  ... on AssetChecks { checks { name } }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""


class UiError(RuntimeError):
    """The webserver or the browser did not do what the test needs."""


@dataclass(frozen=True)
class Webserver:
    """A running `dagster-webserver` on loopback and the file its output goes to."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The `data` of a GraphQL answer; GraphQL errors raise `UiError`."""
        return self.graphql_with(query, {}, timeout=timeout)

    def graphql_with(
        self, query: str, variables: dict[str, Any], *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The `data` of a GraphQL answer to a query with variables."""
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise UiError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]


@dataclass(frozen=True)
class LocationGraph:
    """What the webserver reports for one loaded code location."""

    asset_groups: dict[tuple[str, ...], str | None]
    checks: set[tuple[tuple[str, ...], str]]


def workspace_location(workspace: Path, module_name: str) -> str:
    """The location name `workspace.yaml` gives to a Python module."""
    entries = yaml.safe_load(workspace.read_text())["load_from"]
    for entry in entries:
        target = entry.get("python_module")
        if isinstance(target, dict) and target.get("module_name") == module_name:
            return target.get("location_name", module_name)
    raise UiError(f"{workspace} has no python_module entry for {module_name!r}")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it after `grace` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(process):
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=grace)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the group still runs (the leader is reaped first)."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running_webserver(*, workspace: Path, scratch: Path) -> Iterator[Webserver]:
    """Start `dagster-webserver` for `workspace` on a free loopback port; stop it on exit.

    `scratch` holds the instance (`home/`), the pipeline state (`state/`) and the server log;
    a test may have filled both before.
    """
    home, state = scratch / "home", scratch / "state"
    home.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").is_file():  # a prepared instance keeps its configuration
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = free_loopback_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "BINCLF_STATE": str(state)}
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-w", str(workspace)]
    log_path = scratch / "webserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workspace.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Webserver(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    finally:
        stop_process_group(process)


def wait_for_location(server: Webserver, location: str, *, timeout: float = 90.0) -> LocationGraph:
    """Poll GraphQL until `location` has finished loading; raise if it failed or time ran out."""
    deadline = time.monotonic() + timeout
    status = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise UiError(
                f"webserver exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            workspace = server.graphql(LOCATION_QUERY)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            status = f"no answer ({error})"
        else:
            if workspace["__typename"] != "Workspace":
                raise UiError(f"workspace failed to load: {workspace.get('message')}")
            entry = next((e for e in workspace["locationEntries"] if e["name"] == location), None)
            status = "location missing" if entry is None else entry["loadStatus"]
            if entry is not None and entry["loadStatus"] == "LOADED":
                return _location_graph(location, entry["locationOrLoadError"])
        time.sleep(0.5)
    raise UiError(
        f"location {location!r} not loaded after {timeout:.0f} s ({status}):\n{server.log_tail()}"
    )


def _location_graph(location: str, loaded: dict[str, Any] | None) -> LocationGraph:
    if loaded is None or loaded["__typename"] != "RepositoryLocation":
        message = (loaded or {}).get("message", "no location")
        raise UiError(f"code location {location!r} failed to load: {message}")
    asset_groups: dict[tuple[str, ...], str | None] = {}
    checks: set[tuple[tuple[str, ...], str]] = set()
    for repository in loaded["repositories"]:
        for node in repository["assetNodes"]:
            key = tuple(node["assetKey"]["path"])
            asset_groups[key] = node["groupName"]
            node_checks = node["assetChecksOrError"]
            if node_checks["__typename"] != "AssetChecks":
                raise UiError(f"asset checks of {key} unavailable: {node_checks['__typename']}")
            checks.update((key, check["name"]) for check in node_checks["checks"])
    return LocationGraph(asset_groups=asset_groups, checks=checks)


def dismiss_community_popup(server: Webserver) -> None:
    """Mark the first-visit pop-up as seen; on localhost it covers the page otherwise."""
    if server.graphql("mutation { setNuxSeen }")["setNuxSeen"] is not True:
        raise UiError("setNuxSeen did not return true")


def chromium_binary() -> str | None:
    return shutil.which("chromium")


def capture_page(
    url: str,
    *,
    chromium: str,
    png_path: Path,
    profile_dir: Path,
    window: tuple[int, int] = (1600, 1000),
    timeout: float = 90.0,
) -> str:
    """Render `url` in headless Chromium: write a screenshot to `png_path`, return the DOM."""
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile_dir}",
        f"--window-size={window[0]},{window[1]}",
        f"--screenshot={png_path}",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0 or not png_path.exists():
        raise UiError(
            f"chromium exited with {result.returncode}:\n{result.stderr.decode(errors='replace')}"
        )
    return result.stdout.decode(errors="replace")


def png_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; raise if `data` is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise UiError(f"not a PNG (starts with {data[:16]!r})")
    width, height = struct.unpack(">II", data[16:24])
    return width, height
