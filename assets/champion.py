"""The champion pointer as an observable source: its data version is the champion's version.

`scores` depends on it, so a promotion or rollback (recorded as a new observation with another
data version) marks the scored days stale, and each day's lineage names the version that scored
it. The observation's metadata is the registry at that moment: versions, statuses, metrics and the
newest audit entries.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetsDefinition,
    AssetSpec,
    DataVersion,
    MetadataValue,
    ObserveResult,
    multi_observable_source_asset,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from binclf.register.registry import Registry
from binclf.spec import DatasetSpec
from binclf.stats.summaries import markdown_table

CHAMPION_ASSET = "champion_model"
NO_CHAMPION = "none"
AUDIT_ROWS = 10


def registry_metadata(registry: Registry, dataset: str) -> dict[str, Any]:
    """The champion, every version with its status and test metrics, the newest audit entries."""
    versions = registry.versions(dataset)
    metrics = ("roc_auc", "pr_auc", "log_loss")
    rows = [
        {
            "version": info.version,
            "created": info.created_at[:19],
            "status": info.status,
            **{name: (info.metadata.get("metrics") or {}).get(name) for name in metrics},
        }
        for info in reversed(versions)
    ]
    audit = [
        {
            "at": str(entry.get("at", ""))[:19],
            "action": entry.get("action"),
            "version": entry.get("version"),
            "outcome": entry.get("outcome"),
            "reason": entry.get("reason"),
        }
        for entry in reversed(registry.audit(dataset)[-AUDIT_ROWS:])
    ]
    return {
        "champion": MetadataValue.text(registry.champion(dataset) or NO_CHAMPION),
        "versions": MetadataValue.int(len(versions)),
        "registry": MetadataValue.md(markdown_table(rows) if rows else "no version yet"),
        "audit": MetadataValue.md(markdown_table(audit) if audit else "no entry yet"),
    }


def champion_observation(registry: Registry, dataset: str) -> AssetObservation:
    """An observation of the pointer as it is now, for a step that just moved it."""
    champion = registry.champion(dataset) or NO_CHAMPION
    return AssetObservation(
        asset_key=CHAMPION_ASSET,
        metadata=registry_metadata(registry, dataset),
        tags={DATA_VERSION_TAG: champion},
    )


def champion_assets(spec: DatasetSpec) -> list[AssetsDefinition]:
    """The observable champion pointer of one dataset."""

    @multi_observable_source_asset(
        name=CHAMPION_ASSET,
        specs=[
            AssetSpec(
                CHAMPION_ASSET,
                group_name="monitoring",
                description="The registry's champion pointer; its data version is the "
                "champion's version, so a promotion marks the scored days stale.",
            )
        ],
        required_resource_keys={"state"},
    )
    def champion_model(context: AssetExecutionContext) -> ObserveResult:
        registry = context.resources.state.registry()
        return ObserveResult(
            asset_key=CHAMPION_ASSET,
            data_version=DataVersion(registry.champion(spec.name) or NO_CHAMPION),
            metadata=registry_metadata(registry, spec.name),
        )

    return [champion_model]
