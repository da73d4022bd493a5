"""The HTTP API: Gate's paths and shapes for what Deck and `spin` use, plus live updates."""
