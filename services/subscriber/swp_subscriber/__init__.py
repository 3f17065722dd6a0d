"""SWP subscriber kit (``swp subscribe``): a county's read model and a tree-head witness for
other government systems.

It depends on nothing of the platform's code — only NATS, HTTP and each service's published
AsyncAPI document — so an integrator can read, copy or package it alone. See README.md here.
"""

from swp_subscriber.readmodel import ReadModel
from swp_subscriber.subscriber import Subscriber, SubscriberConfig
from swp_subscriber.witness import Alarm, verify_consistency

__all__ = ["Alarm", "ReadModel", "Subscriber", "SubscriberConfig", "verify_consistency"]
