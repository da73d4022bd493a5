"""The pipeline engine: a durable queue of small messages whose handlers move executions forward."""
