"""libofn from Python.

- ``ofn.Platform``: an embedded platform (apply, invoke, watch, in-process
  Python functions, a manual clock); see ``ofn.platform``.
- ``ofn.framework``: the functions framework that serves a Python function
  inside a process instance (``python3 -m ofn.framework``); it needs only
  the standard library.
- ``ofn.pytest_plugin``: the ``ofn_platform`` fixture (``-p ofn.pytest_plugin``).

The platform names load the compiled extension (``ofn._ofn``) on first use,
so the framework works where the extension is not built.
"""

_PLATFORM_NAMES = ("Platform", "Response", "Event", "Watch", "Clock", "Problem", "Error", "ValidationError",
                   "NotFound", "Conflict", "Unavailable", "Timeout")

__all__ = list(_PLATFORM_NAMES)


def __getattr__(name):
    if name in _PLATFORM_NAMES:
        from . import platform
        return getattr(platform, name)
    raise AttributeError("module 'ofn' has no attribute %r" % name)
