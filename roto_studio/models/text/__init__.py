"""Text prompts: finding objects by name on a frame and tracking phrases through a shot."""
