"""JetStream stream declaration shared by every service (stream ``SWP``, subjects ``swp.>``)."""

from __future__ import annotations

from faststream.nats import JStream
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError

from shared.subjects import STREAM_NAME, STREAM_SUBJECTS

# ≥ 2 minutes (issue 2); long enough to cover a relay restart re-sending its last batch.
DUPLICATE_WINDOW_SECONDS = 300.0


def swp_stream(replicas: int = 1, *, declare: bool = True) -> JStream:
    return JStream(
        STREAM_NAME,
        description="Integration events of the social-work purchase platform (R-AUD-5)",
        subjects=list(STREAM_SUBJECTS),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
        declare=declare,
    )


def stream_config(replicas: int = 1) -> StreamConfig:
    """The same stream as :func:`swp_stream`, for nats-py's JetStream management API."""
    return StreamConfig(
        name=STREAM_NAME,
        description="Integration events of the social-work purchase platform (R-AUD-5)",
        subjects=list(STREAM_SUBJECTS),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create stream SWP if it does not exist yet; never changes an existing one."""
    try:
        await js.stream_info(STREAM_NAME)
    except NotFoundError:
        try:
            await js.add_stream(stream_config(replicas))
        except BadRequestError as exc:  # another service created it first
            if exc.err_code != 10058:  # stream name already in use
                raise
