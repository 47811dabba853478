"""Services: one reconcile pass of a resource, composed from adapters (I/O) and domain (decisions).

Handlers call a service with what kopf gave them; the service observes through the adapters,
asks the domain what to do, and returns what to apply and write. Nothing here judges a gate or
chooses a weight — that is ``domain`` — and nothing here speaks HTTP itself — that is ``adapters``.
"""
