"""libofn's Python side: the functions framework that serves a Python
function inside a process instance (``python3 -m ofn.framework``)."""
