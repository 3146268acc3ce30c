"""The rule engine: validated knowledge from `rules/` walked into a recommendation."""
