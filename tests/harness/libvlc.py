"""Skip a test module when libvlc cannot be used.

``pytest.importorskip("vlc")`` is not enough: python-vlc imports without libvlc (it looks
the library up lazily) and only fails when used, so a module guarded by it fails to load
instead of skipping. ``require_libvlc()`` makes the instance the speaker would make.
"""

from __future__ import annotations

import functools

import pytest


@functools.cache
def libvlc_problem() -> str | None:
    """None when a libvlc instance can be made, else why not."""
    try:
        import vlc
    except Exception as e:  # ImportError, or OSError/AttributeError from a broken libvlc
        return f"python-vlc is not importable ({type(e).__name__}: {e})"
    try:
        instance = vlc.Instance("--no-video", "--quiet")
    except Exception as e:
        return f"libvlc is not usable ({type(e).__name__}: {e})"
    if instance is None:
        return "libvlc is not usable (vlc.Instance() returned None: libvlc or its plugins missing)"
    instance.release()
    return None


def require_libvlc():
    """At module level (or in a test): skip unless libvlc works; returns the ``vlc`` module."""
    problem = libvlc_problem()
    if problem is not None:
        pytest.skip(f"{problem}; bootstrap.sh installs libvlc5 and vlc-plugin-base",
                    allow_module_level=True)
    import vlc

    return vlc
