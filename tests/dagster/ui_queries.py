"""What the UI's GraphQL API reports: materialization metadata, runs of a job, the target of
each asset check execution, and a sensor's ticks."""

from __future__ import annotations

from typing import Any

from ui_support import UiError, Webserver

METADATA_QUERY = """
query Metadata($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 200) {
        partition
        runId
        metadataEntries {
          label
          ... on FloatMetadataEntry { floatValue }
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
          ... on BoolMetadataEntry { boolValue }
          ... on MarkdownMetadataEntry { mdStr }
          ... on PathMetadataEntry { path }
        }
      }
    }
  }
}
"""
JOB_RUNS_QUERY = """
query JobRuns($location: String!, $job: String!) {
  pipelineOrError(
    params: {
      repositoryLocationName: $location, repositoryName: "__repository__", pipelineName: $job
    }
  ) {
    __typename
    ... on Pipeline { runs(limit: 20) { runId status } }
  }
}
"""


CHECK_EXECUTIONS_QUERY = """
query CheckExecutions($path: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 20) {
    runId
    evaluation { targetMaterialization { runId } }
  }
}
"""
SENSOR_TICKS_QUERY = """
query SensorTicks($location: String!, $sensor: String!) {
  sensorOrError(
    sensorSelector: {
      repositoryLocationName: $location, repositoryName: "__repository__", sensorName: $sensor
    }
  ) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 20) { status runIds runKeys skipReason } } }
  }
}
"""


def _entry_value(entry: dict[str, Any]) -> Any:
    for field in ("floatValue", "intValue", "text", "boolValue", "mdStr", "path"):
        if field in entry:
            return entry[field]
    return None


def materialization_metadata(server: Webserver, asset: str) -> dict[str | None, dict[str, Any]]:
    """The newest materialization's metadata of each partition (None: unpartitioned), as the
    UI's GraphQL API reports it."""
    answer = server.graphql_with(METADATA_QUERY, {"path": [asset]})["assetOrError"]
    if answer["__typename"] != "Asset":
        raise UiError(f"asset {asset!r} unavailable: {answer['__typename']}")
    newest: dict[str | None, dict[str, Any]] = {}
    for event in answer["assetMaterializations"]:  # newest first
        newest.setdefault(
            event["partition"],
            {entry["label"]: _entry_value(entry) for entry in event["metadataEntries"]},
        )
    return newest


def materializations_by_run(server: Webserver, asset: str) -> dict[str, dict[str, Any]]:
    """The metadata of an unpartitioned asset's materialization in each run that made one."""
    answer = server.graphql_with(METADATA_QUERY, {"path": [asset]})["assetOrError"]
    if answer["__typename"] != "Asset":
        raise UiError(f"asset {asset!r} unavailable: {answer['__typename']}")
    return {
        event["runId"]: {entry["label"]: _entry_value(entry) for entry in event["metadataEntries"]}
        for event in answer["assetMaterializations"]
    }


def check_targets(server: Webserver, asset: str, check: str) -> list[tuple[str, str | None]]:
    """(run of the check, run of the materialization it evaluated) of each execution the UI
    lists for an asset check."""
    answer = server.graphql_with(CHECK_EXECUTIONS_QUERY, {"path": [asset], "check": check})
    pairs = []
    for execution in answer["assetCheckExecutions"]:
        target = (execution["evaluation"] or {}).get("targetMaterialization")
        pairs.append((execution["runId"], None if target is None else target["runId"]))
    return pairs


def sensor_ticks(server: Webserver, location: str, sensor: str) -> list[dict[str, Any]]:
    """The ticks the UI lists for a sensor of the location (those the daemon stored)."""
    answer = server.graphql_with(SENSOR_TICKS_QUERY, {"location": location, "sensor": sensor})
    sensor_answer = answer["sensorOrError"]
    if sensor_answer["__typename"] != "Sensor":
        raise UiError(f"sensor {sensor!r} unavailable: {sensor_answer['__typename']}")
    return sensor_answer["sensorState"]["ticks"]


def job_runs(server: Webserver, location: str, job: str) -> list[dict[str, Any]]:
    """The runs the UI lists under a job of the location (those launched through it)."""
    answer = server.graphql_with(JOB_RUNS_QUERY, {"location": location, "job": job})
    job_answer = answer["pipelineOrError"]
    if job_answer["__typename"] != "Pipeline":
        raise UiError(f"job {job!r} unavailable: {job_answer['__typename']}")
    return job_answer["runs"]
