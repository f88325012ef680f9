"""The CRM core: data model, settings, storage, ingest, hygiene, identity and profiles."""

__all__: list[str] = []
__version__ = "0.1.0"
