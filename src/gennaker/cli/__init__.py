"""The `gennaker` command line."""
