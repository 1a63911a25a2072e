"""The core actions and conditions.

Importing this package registers every built-in action and condition on
:data:`dsm.runtime.actions.core.core` (each file decorates its functions).
"""

from dsm.runtime.actions import (  # noqa: F401
    b2b,
    conditions,
    di,
    errors,
    eventing,
    flow,
    logging,
    media,
    objects,
    timers,
    variables,
)
from dsm.runtime.actions.core import core

__all__ = ["core"]
