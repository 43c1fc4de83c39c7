"""Drivers for what a site runs. Each kind sits behind a ``typing.Protocol`` with a real
implementation and an in-memory fake; drivers never import each other."""
