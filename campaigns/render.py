"""Rendering campaign messages (C4): the public names, from the modules that hold them.

- :mod:`campaigns.sandbox`: the one sandboxed Jinja2 environment, its limits, compiling;
- :mod:`campaigns.filters`: money, numbers and dates via babel, plural forms, declension;
- :mod:`campaigns.batch`: a frame of contexts rendered into messages (the send path);
- :mod:`campaigns.preview`: checking templates before sending, and one message's preview.

``from campaigns.render import render_messages`` keeps working; new code imports from the
module that owns the name.
"""

from __future__ import annotations

from campaigns.batch import OUTPUT_COLUMNS, render_messages
from campaigns.filters import declension, plural
from campaigns.preview import check_templates, render_one
from campaigns.sandbox import CHANNEL_PARTS, LIMITS, Limits, compile_templates, environment

__all__ = [
    "CHANNEL_PARTS",
    "LIMITS",
    "OUTPUT_COLUMNS",
    "Limits",
    "check_templates",
    "compile_templates",
    "declension",
    "environment",
    "plural",
    "render_messages",
    "render_one",
]
