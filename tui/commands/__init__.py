"""Subcommand implementations; each module exposes ``run(args, settings) -> int`` and is imported lazily."""
