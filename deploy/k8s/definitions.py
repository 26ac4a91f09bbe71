"""The code location of a Kubernetes deployment: every step of a run is its own Kubernetes Job.

Same assets, jobs, schedules and sensors as `pipelines.definitions`, for the dataset named by
`$BINCLF_DATASET`; only the executor differs. The run pod (started by the K8sRunLauncher of
deploy/k8s/dagster.yaml) launches one pod per step with the image the run uses and the config of
run_config.yaml, so steps get their own CPU and memory and run on any node. The pods share the
PostgreSQL instance and a `$BINCLF_STATE` volume that every node can mount (ReadWriteMany).
"""

from dagster_k8s import k8s_job_executor

from binclf.spec import load_spec
from pipelines.definitions import build_definitions

defs = build_definitions(load_spec(), executor=k8s_job_executor)
