"""``tokenwire desktop``: the web app in a native window (PySide6 and QtWebEngine).

Locally it runs the same server as ``serve`` in-process, on a loopback port of its own, and shows
its page; with ``--url`` it shows a remote server's web app. Qt is imported only by
:mod:`tokenwire.desktop.window`, after :mod:`tokenwire.desktop.availability` found it can run.

- ``launch``: the command: checks a window can open, starts the server if local, shows the app.
- ``availability``: whether QtWebEngine can open a window here, decided before Qt can abort.
- ``embedded``: the ``serve`` app on a loopback port, in a thread with its own event loop.
- ``window``: the window, a QWebEngineView on the web app, with native menus.
- ``bridge``: the window's own transport, streams from the in-process hub over QWebChannel.
- ``tickets``: who the window's page acts as, proven to the bridge by the server.
"""
