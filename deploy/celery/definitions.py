"""The code location of a Celery deployment: the pipeline's jobs with every step a Celery task.

Same assets, jobs, schedules and sensors as `pipelines.definitions`, for the dataset named by
`$BINCLF_DATASET`; only the executor differs. The run worker submits each step to the broker and
Celery workers (`dagster-celery worker start`, see run_config.yaml) execute them, so the steps of
one run can run on several machines. Every machine needs this repository installed, the same
`$BINCLF_DATASET`, a `$BINCLF_STATE` on storage they all mount, and the PostgreSQL instance
(deploy/postgres/dagster.yaml in `$DAGSTER_HOME`).
"""

from dagster import Definitions
from dagster_celery import celery_executor

from binclf.spec import load_spec
from pipelines.definitions import build_definitions

_pipeline = build_definitions(load_spec())
defs = Definitions(
    assets=_pipeline.assets,
    asset_checks=_pipeline.asset_checks,
    jobs=_pipeline.jobs,
    schedules=_pipeline.schedules,
    sensors=_pipeline.sensors,
    resources=_pipeline.resources,
    executor=celery_executor,
)
