"""The framework-neutral core: entities, access rules, validation and use cases.

Nothing here imports an ORM, a web framework or a vendor SDK (a test enforces it).
"""

__all__: list[str] = []
