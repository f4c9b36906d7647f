"""Named errors. Raise these on bad input (never ``assert``); say what was
wrong and, where there is one, what the valid choices are."""


class ConrtError(Exception):
    """Base class of every error conrt raises on purpose."""


class ConfigError(ConrtError):
    """A bad option, config name or parameter value."""


class AssetError(ConrtError):
    """A malformed or unsupported character asset (mesh, glTF/VRM, BVH)."""


class InputError(ConrtError):
    """Bad runtime input: wrong sizes, NaN poses, sheets without alpha, ..."""


class CheckpointError(ConrtError):
    """A checkpoint that is corrupt, not a state dict, or does not match the model."""


class ShaderCompileError(ConrtError):
    """A GLSL program failed to compile or link; names the file and line."""

    def __init__(self, path, line, message):
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {message}")


class ContextError(ConrtError):
    """No OpenGL context could be created (no EGL, no display)."""


class BackendUnavailable(ConrtError):
    """An inference backend cannot run here; the message says what is missing."""


class BridgeProtocolError(ConrtError):
    """The engine bridge saw a bad header, a version/size mismatch or a dead peer."""


class PhysicsError(ConrtError):
    """The physics world was asked for something impossible."""
