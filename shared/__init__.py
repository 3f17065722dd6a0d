"""Shared kernel of the social-work purchase platform (政府购买社会工作服务).

What the four services share and nothing more: the integration event contract
(envelope, schemas, subjects), pure domain helpers (rule errors, the working-day
calendar) and, under :mod:`shared.infra`, the plumbing every service wires in the
same way (settings, auth, problem+json, the event store, outbox relay, consumers).
"""
