"""Modules shared by more than one package of this distribution.

``panicquota``'s sub-packages and ``pytest_panicquota`` import from here
instead of from each other's private modules. Not public API: names may
change between releases.
"""
