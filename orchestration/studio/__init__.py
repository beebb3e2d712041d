"""The studio page: one small web app where a person watches an episode, approves or rejects its
shots, asks for a revision, and starts a special. `create_app(settings)` builds it; `starloom studio`
(and `starloom ui`, beside Dagster) serves it.

It only records decisions (assets_defs/approvals.py): the approval sensors under the daemon launch
what follows. A special is launched through the Dagster webserver's GraphQL API, as the UI does.
"""
