"""The web UI: server-rendered pages (Jinja2) with htmx for live parts, on top of the API's runtime."""
