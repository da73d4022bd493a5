"""Who is calling and what they may do: local users, API tokens, browser sessions, permissions, audit."""
