"""Command-line interface (typer app in `main`, terminal rendering in `render`)."""
