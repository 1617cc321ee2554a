"""``tokenwire desktop``: the web app in a native window (PySide6 and QtWebEngine).

Locally it runs the same server as ``serve`` in-process, on a loopback port of its own, and shows
its page; with ``--url`` it shows a remote server's web app. Qt is imported only by
:mod:`tokenwire.desktop.window`, after :mod:`tokenwire.desktop.availability` found it can run.
"""
