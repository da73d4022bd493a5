"""Deployment targets. Each provider owns its accounts, operations and live infrastructure views."""
