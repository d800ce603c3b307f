"""The public performance dashboard: a GOV.UK-style page of the published KPIs.

- ``router``: ``dashboard_router`` / ``mount_dashboard``, the page, its downloads and static files.
- ``data``: what the page shows, read from the publication (published months only).
- ``views`` / ``charts``: the figures in words, and the line charts' geometry (inline SVG).
- ``templates/``: the Jinja2 templates (autoescaped); ``static/``: GOV.UK Frontend, vendored
  by ``vendor`` (see ``static/govuk-frontend/VERSION``), and the dashboard's CSS.
"""

from perfdata_assets.web.dashboard.router import dashboard_router, mount_dashboard

__all__ = ["dashboard_router", "mount_dashboard"]
