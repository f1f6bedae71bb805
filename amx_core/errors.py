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


EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def run_cli(prog: str, job, *, interrupted: str) -> int:
    """Run a console script's `job()` so that a user sees one line, never a traceback: an `AmxError`
    becomes "PROG: error: ..." (exit 2); Ctrl-C becomes "PROG: interrupted; ..." saying what is kept (130)."""
    import sys

    try:
        return job()
    except AmxError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
