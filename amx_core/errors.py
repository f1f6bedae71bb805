"""Typed errors: each reaches the user as one clear line (see the CLIs' `main`)."""


class AmxError(Exception):
    """Base of every error the project raises on purpose."""


class BadImageError(AmxError):
    """An input file is not a usable image (names the file and the reason)."""


class WeightsUnavailableError(AmxError):
    """A model's weights are not available offline."""


class UnknownModelError(AmxError):
    """A model name that the registry does not know."""


class UnknownClassError(AmxError):
    """A class name or index that is not an ImageNet class."""


class StoreError(AmxError):
    """The graph store is unreachable, read-only, or refused a write."""
