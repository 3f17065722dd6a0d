"""The embedded entry point: one HTTP gateway over the four services, and the ``swp`` CLI.

In the embedded default the four services are co-hosted in one process behind this
gateway, each with its own store, its own NATS connections and its own outbox relay:
they still exchange data only through JetStream. In production each service runs on
its own and an existing gateway (nginx, see deploy/) routes the same prefixes.
"""
