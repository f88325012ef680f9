"""Prefect flows and the ``crm`` command: read from ``crm.store``, call the pure rooms, write back."""
