"""The model server (`roto-studio serve`): the models in their own process, over HTTP (FastAPI).

app.py (guard, errors, status), routes.py (the /v1 endpoints), state.py (model thread, sessions,
jobs), manager.py (models under a memory budget), frames.py (media roots, uploaded frames).
Clients: roto_studio.client.
"""
