"""The application service: what the API, the pages, the CLI and the scheduler ask of Gennaker."""
