"""The Textual app. Talks to the engine only through its public API."""
