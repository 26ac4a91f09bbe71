"""The code location of a Celery deployment: the pipeline's jobs with every step a Celery task.

Same assets, jobs, schedules and sensors as `pipelines.definitions`, for the dataset named by
`$BINCLF_DATASET`; only the executor differs. The run worker submits each step to the broker and
Celery workers (`dagster-celery worker start`, see run_config.yaml) execute them, so the steps of
one run can run on several machines. Every machine needs this repository installed, the same
`$BINCLF_DATASET`, a `$BINCLF_STATE` on storage they all mount, and the PostgreSQL instance
(deploy/postgres/dagster.yaml in `$DAGSTER_HOME`).
"""

from dagster_celery import celery_executor

from binclf.spec import load_spec
from pipelines.definitions import build_definitions

defs = build_definitions(load_spec(), executor=celery_executor)
