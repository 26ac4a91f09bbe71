"""The instance's SQLite storage with the per-partition asset events of a step written in one go.

A range run writes one planned and one materialization event per asset and day. Dagster hands
such events over in batches when `DAGSTER_EVENT_BATCH_SIZE` is set, but its SQLite event log
stores a batch one event at a time: two connections and two commits (the run's database and the
asset index) per event, about 10 ms each on a shared disk. `BatchedSqliteEventLogStorage` stores
a batch of asset events with one transaction per database, inserting the same rows in the same
order as one event at a time would. `dagster.yaml` names `BatchedSqliteStorage` as its storage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster._core.event_api import EventLogEntry
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = 1000  # a step's events of one asset (one per day of a range) in one write


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log whose batches of asset events take one transaction per database."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Consecutive asset events of one run in one write; anything else (e.g. planned checks)
        one at a time as Dagster stores it, so the stored order is the order given."""
        pending: list[EventLogEntry] = []
        for event in events:
            is_asset = event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS
            if pending and (not is_asset or event.run_id != pending[0].run_id):
                self._store_asset_events(pending[0].run_id, pending)
                pending = []
            if is_asset:
                pending.append(event)
            else:
                self.store_event(event)
        if pending:
            self._store_asset_events(pending[0].run_id, pending)

    def _store_asset_events(self, run_id: str, events: list[EventLogEntry]) -> None:
        """What `store_event` does for each asset event: the run's row, then the index's row,
        tags and asset record; here in one transaction per database."""
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in zip(events, ids, strict=True):
                self._store_asset_event(conn, event, event_id)


class BatchedSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (same folders) with the batched event log; it turns Dagster's
    event batching on in the process that uses it."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))
        os.environ.setdefault(BATCH_SIZE_ENV, str(BATCH_SIZE))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, str]
    ) -> BatchedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
