"""The composition root: Definitions, jobs, schedules, sensors and resource instances."""
