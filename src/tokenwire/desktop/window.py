"""The window: a QWebEngineView on the web app, native menus, and a remembered size.

Imported only once :func:`tokenwire.desktop.availability.problem` found nothing wrong, since
importing Qt where it cannot run may end the process.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QSettings, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QApplication, QMainWindow

from tokenwire.desktop.bridge import OBJECT_NAME, StreamBridge, bootstrap_script
from tokenwire.desktop.embedded import EmbeddedServer

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1100, 800)
NEW_CHAT_SCRIPT = "document.getElementById('new-chat')?.click()"


def settings_store() -> QSettings:
    """Where the window's geometry lives: ~/.config/tokenwire/desktop.ini on Linux."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "tokenwire", "desktop")


class AppPage(QWebEnginePage):
    """Keeps the window on the app: links to anywhere else open in the system browser."""

    def __init__(self, profile: QWebEngineProfile, origin: QUrl, parent: QWebEngineView) -> None:
        super().__init__(profile, parent)
        self.origin = origin

    def acceptNavigationRequest(
        self,
        url: QUrl | str,
        type: QWebEnginePage.NavigationType,
        isMainFrame: bool,
    ) -> bool:
        url = QUrl(url)
        if isMainFrame and not _same_origin(url, self.origin):
            QDesktopServices.openUrl(url)
            return False
        return True

    def createWindow(self, type: QWebEnginePage.WebWindowType) -> QWebEnginePage:
        # A link with target="_blank": the page Qt gets back only hands its URL to the browser.
        return ExternalLinkPage(self.profile(), self)


class ExternalLinkPage(QWebEnginePage):
    def acceptNavigationRequest(
        self,
        url: QUrl | str,
        type: QWebEnginePage.NavigationType,
        isMainFrame: bool,
    ) -> bool:
        QDesktopServices.openUrl(QUrl(url))
        self.deleteLater()
        return False


def _same_origin(a: QUrl, b: QUrl) -> bool:
    return (a.scheme(), a.host(), a.port()) == (b.scheme(), b.host(), b.port())


def persistent_profile() -> QWebEngineProfile:
    """A named profile, so the sign-in cookie and the page's storage outlive the window (Qt's
    default profile keeps nothing); it lives in ~/.local/share/tokenwire on Linux."""
    profile = QWebEngineProfile("tokenwire")
    profile.setPersistentCookiesPolicy(
        QWebEngineProfile.PersistentCookiesPolicy.AllowPersistentCookies
    )
    return profile


class DesktopWindow(QMainWindow):
    """The app at ``url``; with a ``bridge``, the page streams over it instead of the network."""

    def __init__(
        self, url: str, profile: QWebEngineProfile, bridge: StreamBridge | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("tokenwire")
        self.view = QWebEngineView(self)
        page = AppPage(profile, QUrl(url), self.view)
        if bridge is not None:
            channel = QWebChannel(page)
            channel.registerObject(OBJECT_NAME, bridge)
            page.setWebChannel(channel)
            origin = QUrl(url)
            page.scripts().insert(bootstrap_script(f"{origin.scheme()}://{origin.authority()}"))
        self.view.setPage(page)
        self.view.titleChanged.connect(self._title_changed)
        self.view.page().renderProcessTerminated.connect(self._renderer_gone)
        self.setCentralWidget(self.view)
        self.new_chat_action = self._action(
            "&New chat", QKeySequence.StandardKey.New, self.new_chat
        )
        self.reload_action = self._action("&Reload", QKeySequence.StandardKey.Refresh,
                                          self.view.reload)  # fmt: skip
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        chat_menu = self.menuBar().addMenu("&Chat")
        chat_menu.addAction(self.new_chat_action)
        chat_menu.addAction(self.reload_action)
        chat_menu.addSeparator()
        chat_menu.addAction(self.quit_action)
        self._restore_geometry()
        self.view.load(QUrl(url))

    def _action(
        self, text: str, shortcut: QKeySequence.StandardKey, slot: Callable[[], object]
    ) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def new_chat(self) -> None:
        """What the page's own "New chat" button does: an empty conversation, the input focused."""
        self.view.page().runJavaScript(NEW_CHAT_SCRIPT)

    def _renderer_gone(
        self, status: QWebEnginePage.RenderProcessTerminationStatus, code: int
    ) -> None:
        # A crashed or killed page process leaves a blank window: load the app again. The answer
        # that was streaming is not lost; the app picks it up from the server on load.
        if status != QWebEnginePage.RenderProcessTerminationStatus.NormalTerminationStatus:
            log.warning("the page's process ended (%s, code %d); reloading", status.name, code)
            QTimer.singleShot(500, self.view.reload)

    def _title_changed(self, title: str) -> None:
        self.setWindowTitle(title if title.startswith("tokenwire") else f"{title} · tokenwire")

    def _restore_geometry(self) -> None:
        saved = settings_store().value("geometry")
        if not (isinstance(saved, QByteArray) and self.restoreGeometry(saved)):
            self.resize(*DEFAULT_SIZE)

    def closeEvent(self, event: QCloseEvent) -> None:
        store = settings_store()
        store.setValue("geometry", self.saveGeometry())
        store.sync()
        super().closeEvent(event)


def run_window(
    url: str,
    on_window: Callable[[DesktopWindow], None] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    local: EmbeddedServer | None = None,
) -> int:
    """Show the app at ``url`` until the window closes; returns Qt's exit code.

    ``stop_requested`` says whether Ctrl-C or SIGTERM came before the window existed. With the
    ``local`` server the window runs, the page streams from its hub over the QWebChannel bridge.
    """
    app = QApplication.instance() or QApplication(["tokenwire"])
    app.setApplicationName("tokenwire")
    app.setOrganizationName("tokenwire")
    profile = persistent_profile()
    bridge = None
    if local is not None and local.loop is not None:
        bridge = StreamBridge(local.state, local.loop, local.tickets)
    window = DesktopWindow(url, profile, bridge)
    # Ctrl-C and SIGTERM close the window as Quit does. Python runs signal handlers only between
    # bytecodes, so a timer lets it in while Qt's loop waits.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:  # queued: the loop may not be running yet
        signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close))
    if stop_requested():
        QTimer.singleShot(0, window.close)
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    window.show()
    if on_window is not None:
        on_window(window)
    code = app.exec()
    heartbeat.stop()
    for sig, handler in previous.items():  # the window is going: signals are the caller's again
        signal.signal(sig, handler)
    if bridge is not None:
        bridge.close()  # stops reading; the server lets the answers finish and stores them
    # The page must go before its profile and the application (QtWebEngine crashes at exit
    # otherwise), and before the server stops, so its socket closes instead of being cut.
    page = window.view.page()
    shiboken6.delete(page)
    shiboken6.delete(window)
    shiboken6.delete(profile)  # after its pages, and it writes its cookies out
    # What Qt deferred goes now, while what it refers to still exists (QtWebEngine deletes the
    # page's render widget with deleteLater(), which processEvents() outside a loop leaves be).
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    # Then the application itself, with Python whole. Left to the interpreter's exit, PySide
    # destroys it (and every Qt object still wrapped) while Python is being torn down: an
    # intermittent SIGSEGV at exit, as `tokenwire desktop --url` once showed in the tests.
    app.shutdown()
    return code
