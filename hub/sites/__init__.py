"""The site registry: sites, their state and figures, and one-time join tokens."""
