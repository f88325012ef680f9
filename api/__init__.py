"""The FastAPI gateway: intake, loyalty at checkout, the customer card, delivery and tracking.

Build the app with :func:`api.app.create_app`; ``crm api`` serves it with uvicorn and
``crm worker`` runs the delivery worker.
"""
