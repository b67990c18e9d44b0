"""Exceptions that carry a message meant for the user, not a traceback."""


class InvalidModelError(ValueError):
    """A model folder or Hub repo that cannot be loaded as a `vae_hub.VAE`.

    Raised for a missing or foreign config.json, wrong-typed or unknown config fields, and
    weights that are truncated or do not match the config. The message names the file.
    """


class DataNotFoundError(FileNotFoundError):
    """MNIST is neither on disk nor downloadable; the message says where to put the files."""


class ConfigError(ValueError):
    """A training option, config file or config.ini key that cannot be used."""


class ModelNotFoundError(InvalidModelError):
    """No model at that folder or repo id (or it is private, or offline and not cached)."""


class HubError(RuntimeError):
    """Talking to the Hub failed (no token, rejected token, unreachable, HTTP error).

    The message names the cause and, for uploads, the command that retries; local files
    are never touched by a failed upload.
    """


class WriteError(RuntimeError):
    """A file of a training run could not be written (a full disk, a read-only folder).

    The message names the path and the cause, the last good checkpoint and how to go on;
    what was saved before is intact (every write is atomic).
    """


class UnsafeFileError(ValueError):
    """A file of a model or run folder that is not read: a symbolic link, FIFO, device or
    folder where a regular file belongs (a link could point at a secret anywhere on the
    machine, a FIFO would hang the reader), or a file larger than its kind can be.

    The message names the file. Loading wraps it in InvalidModelError.
    """


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss or weights (most often: a learning rate too
    high). The message names the step and the last good checkpoint; nothing non-finite is
    ever saved, so that checkpoint is intact."""


class PortError(ValueError):
    """The demo cannot listen on the address and port it was given (in use, not allowed);
    the message names them."""
