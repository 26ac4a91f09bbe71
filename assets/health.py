"""Model health: every monitored day in one table and four charts, refreshed after monitoring."""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    MetadataValue,
    asset,
)

from assets.resources import StateResource
from binclf.io.atomic import write_bytes_atomic
from binclf.monitor.health import (
    alarm_streaks,
    feature_drift_grid,
    health_table,
    score_summaries,
    stored_days,
    table_rows,
)
from binclf.monitor.health_charts import health_charts
from binclf.spec import DatasetSpec
from binclf.stats.plots import png_markdown
from binclf.stats.summaries import markdown_table

# Eager: refresh once a run that updated drift, labels or scores has finished. Without the
# "no dependency missing" clause: days that were never monitored must not hold the view back.
HEALTH_AUTOMATION = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())
TITLES = {
    "drift_share": "Drift share per day",
    "feature_drift": "Feature drift per day",
    "prediction_drift": "Prediction drift and flag rate",
    "realized_performance": "Realized performance and label coverage",
}
TABLE_COLUMNS = (
    "day",
    "model_version",
    "n_rows",
    "share_drifted",
    "alarm",
    "alarm_streak",
    "drifted_columns",
    "prediction_js",
    "flag_rate",
    "mean_probability",
    "label_coverage",
    "precision",
    "recall",
    "pr_auc",
)


def health_assets(spec: DatasetSpec) -> list[AssetsDefinition]:
    """The model health view over the monitoring assets of one dataset."""
    upstream = ["scores", "drift"] + (["label_status_report"] if spec.time_column else [])

    @asset(group_name="monitoring", deps=upstream, automation_condition=HEALTH_AUTOMATION)
    def model_health(context: AssetExecutionContext, state: StateResource) -> dict[str, Any]:
        """Drift, prediction drift, flag rate and realized performance of every stored day."""
        # Read from the partition store, not as inputs: an unpartitioned asset would have to
        # load every partition of the definition, and one never monitored would fail the load.
        store = state.store()
        drift = stored_days(store, "drift")
        days = health_table(
            drift,
            stored_days(store, "label_status_report"),
            score_summaries(store, store.keys("scores")),
        )
        threshold = spec.monitoring.drift_share_threshold
        charts = health_charts(days, feature_drift_grid(drift), threshold=threshold)
        folder = store.path("model_health").parent
        for name, png in charts.items():
            write_bytes_atomic(folder / f"{name}.png", png)
        for name in set(TITLES) - set(charts):  # a chart with nothing to draw leaves no old file
            (folder / f"{name}.png").unlink(missing_ok=True)
        rows = table_rows(days)
        streaks = alarm_streaks(days)
        context.add_output_metadata(
            {
                "days": MetadataValue.int(len(days)),
                "first_day": MetadataValue.text(days[0].day if days else "-"),
                "last_day": MetadataValue.text(days[-1].day if days else "-"),
                "alarm_days": MetadataValue.int(sum(bool(d.alarm) for d in days)),
                "longest_alarm_streak": MetadataValue.int(
                    max((s.days for s in streaks), default=0)
                ),
                "drift_share_threshold": MetadataValue.float(float(threshold)),
                "per_day": MetadataValue.md(
                    markdown_table(rows, TABLE_COLUMNS) if rows else "no monitored day yet"
                ),
                **{
                    f"chart_{name}": MetadataValue.md(png_markdown(png, TITLES[name]))
                    for name, png in charts.items()
                },
            }
        )
        return {
            "days": rows,
            "alarm_streaks": [{"first": s.first, "last": s.last, "days": s.days} for s in streaks],
            "charts": {name: f"{name}.png" for name in charts},
        }

    return [model_health]
