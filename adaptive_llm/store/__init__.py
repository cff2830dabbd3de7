"""The run's SQLite store and the files of a workdir (``layout``)."""
