"""Whether the solo-learn layer can be tested here; its test modules skip with the reason if not."""

import pytest


def _solo_skip_reason() -> str | None:
    try:
        import req_plugins.solo  # noqa: F401
    except ImportError as error:
        return f"solo-learn is not importable: {str(error).splitlines()[0]}"
    return None


SOLO_SKIP_REASON = _solo_skip_reason()


def skip_module_without_solo() -> None:
    """Call first in a test module that imports solo-learn."""
    if SOLO_SKIP_REASON is not None:
        pytest.skip(SOLO_SKIP_REASON, allow_module_level=True)
