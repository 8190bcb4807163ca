"""Ownership audit and staffing advisor.

``erlang`` is the pure Erlang C staffing maths; ``report`` builds the ownership audit from
classified sample conversations (``schemas``), ``render``/``charts`` turn it into one
self-contained HTML page, ``policy_draft`` writes the recommended ownership policy, and
``sample`` turns interchange rows into audit items. ``cli`` holds ``townhall staffing`` and
the ``audit`` command.
"""
