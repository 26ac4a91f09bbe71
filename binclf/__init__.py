"""binclf: the domain library of the binary-classifier pipeline. It never imports dagster."""

__version__ = "0.1.0"
