"""Data shapes shared by every part: statuses, pipeline configs, executions. Imports nothing of ours."""
