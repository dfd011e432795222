"""Exceptions of the data layer."""


class DataError(ValueError):
    """A data set cannot be built or loaded: bad argument, missing or altered raw file."""
