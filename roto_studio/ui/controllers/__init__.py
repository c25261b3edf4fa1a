"""The window's controllers, one concern each: project life cycle (project), playback and the
timeline (playback), prompting and tools (prompting), objects and edges (objects), long jobs
(jobs), the model service and backend choice (service), settings (settings).

A controller gets the widgets it drives and the shared ui.shot.Shot; it never imports another
controller (an import-linter contract in pyproject.toml checks this): they talk through the
Shot's signals and the project model. A new concern gets its own module here.
"""
