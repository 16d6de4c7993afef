"""Storage implementations of the core's ports."""

__all__: list[str] = []
