"""binclf: the domain library of the binary-classifier pipeline. It never imports dagster."""
