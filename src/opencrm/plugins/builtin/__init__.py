"""Built-in plugins: opencrm's own behaviour, registered through the same hooks as any plugin."""

__all__: list[str] = []
