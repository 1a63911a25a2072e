"""The core "module": every built-in action and condition is declared on it.

Core actions use the same decorator API as ``mod_*`` modules
(:mod:`dsm.runtime.registry`); their signatures must match the language
layer's core vocabulary (:data:`dsm.vocabulary.CORE_ACTIONS`), which a test
checks.  The grouped files of this package (variables, logging, flow, media,
…) each import :data:`core` and decorate their functions; importing
:mod:`dsm.runtime.actions` loads them all.
"""

from __future__ import annotations

from dsm.runtime.registry import Module

core = Module("", doc="built-in actions and conditions (actions.md)")
