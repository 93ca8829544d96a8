"""The core: configuration, sign-in, the Graph client, imaging, the local store and history.

Nothing here imports Textual; the CLI and the app both build on it.
"""
