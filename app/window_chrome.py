"""The main window's actions, menus, toolbar and status bar (built here, handled by the window's
controllers; the View menu lists the views of app.view_registry)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QToolBar

from app.views.elided import ElidedLabel


def _action(
    w,
    text: str,
    slot,
    shortcut=None,
    *,
    checkable=False,
    tip: str = "",
    context=Qt.ShortcutContext.WindowShortcut,
) -> QAction:
    a = QAction(text, w)
    if shortcut:
        keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(context)
    a.setCheckable(checkable)
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    # QAction.triggered sends ``checked``: only checkable actions pass it on, so a slot's optional
    # first argument never receives a bool
    a.triggered.connect(slot if checkable else (lambda _checked=False: slot()))
    w.addAction(a)
    return a


def build_actions(w) -> None:
    """``w.act_*`` and ``w.view_actions``. Zoom and pan keys act while the focus is in the views,
    so the arrow keys still move through the model list."""
    w.act_open = _action(
        w, "&Open…", w.files.choose_file, QKeySequence.StandardKey.Open, tip="Open a mixture"
    )
    w.act_refs = _action(
        w,
        "Open &references…",
        w.files.choose_references,
        "Ctrl+Shift+O",
        tip="Open the reference sources, one file per speaker",
    )
    w.act_ckpt = _action(
        w,
        "Open &model…",
        w.models.choose_checkpoint,
        tip="Add a model: a Cocktail checkpoint (.pt), an Asteroid model (.pth, .ckpt, "
        ".bin), torchaudio's Conv-TasNet (.pt), an ONNX graph (.onnx) or a SpeechBrain folder "
        "(its hyperparams.yaml)",
    )
    w.act_export = _action(
        w, "&Export stems…", w.exports.show, "Ctrl+E", tip="Write the separated sources"
    )
    w.act_quit = _action(
        w, "&Quit", w.close, "Ctrl+Q"
    )  # StandardKey.Quit is empty on some platforms
    w.act_separate = _action(
        w, "&Separate", w.separation.separate, "Ctrl+R", tip="Run the ticked models"
    )
    w.act_stop = _action(w, "S&top", w.stop, "Esc", tip="Stop the separation")
    w.act_play = _action(w, "Play", w.playback.toggle, "Space", tip="Play / pause (Space)")
    w.act_loop = _action(
        w,
        "Loop",
        w.playback.set_loop,
        "L",
        checkable=True,
        tip="Loop over the highlighted range (drag its edges on the mixture)",
    )
    views = Qt.ShortcutContext.WidgetWithChildrenShortcut
    a = w.axis
    w.act_zoom_in = _action(w, "Zoom in", lambda: a.zoom(0.5), ["=", "+", "Ctrl+="], context=views)
    w.act_zoom_out = _action(w, "Zoom out", lambda: a.zoom(2.0), ["-", "Ctrl+-"], context=views)
    w.act_pan_left = _action(w, "Pan left", lambda: a.pan(-0.25), "Left", context=views)
    w.act_pan_right = _action(w, "Pan right", lambda: a.pan(0.25), "Right", context=views)
    w.act_fit = _action(w, "Show all", a.fit, "Home", context=views)
    w.navigation_actions = [
        w.act_zoom_in,
        w.act_zoom_out,
        w.act_pan_left,
        w.act_pan_right,
        w.act_fit,
    ]
    for act in w.navigation_actions:
        w.tabs.addAction(act)
    w.view_actions = [
        _action(w, spec.title, lambda _=False, n=spec.name: w.set_view(n), spec.shortcut)
        for spec in w.view_specs
    ]
    w.act_chunks = _action(
        w,
        "Show &chunks",
        w.show_chunks,
        "Ctrl+K",
        checkable=True,
        tip="Show the chunks the engine cut the recording into, and how it joined them",
    )
    w.act_timeline = _action(
        w,
        "&Quality timeline",
        w.timeline.set_wanted,
        checkable=True,
        tip="Show the quality over time under the Listen lanes",
    )
    w.act_timeline.setChecked(True)
    w.act_abx = _action(
        w,
        "&Blind A/B/X test…",
        w.playback.show_abx,
        "Ctrl+B",
        tip="Tell two results apart by ear, blind, for one source",
    )
    w.act_untrained = _action(
        w,
        "Show &untrained architectures",
        w.models.set_show_untrained,
        checkable=True,
        tip="List the built-in models that have no trained weights",
    )
    w.act_guide = _action(w, "&User's guide", w.show_guide, "F1", tip="Open the user's guide (F1)")
    w.act_about = _action(w, "&About Cocktail", w.show_about)
    w.act_about.setMenuRole(QAction.MenuRole.AboutRole)


def build_menus(w) -> None:
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addAction(w.act_open)
    w.recent_menu = file_menu.addMenu("Open &recent")
    for act in (w.act_refs, w.act_ckpt, None, w.act_export, None, w.act_quit):
        file_menu.addSeparator() if act is None else file_menu.addAction(act)
    run_menu = menu.addMenu("&Run")
    run_menu.addAction(w.act_separate)
    run_menu.addAction(w.act_stop)
    run_menu.addSeparator()
    run_menu.addAction(w.act_untrained)
    play_menu = menu.addMenu("&Playback")
    play_menu.addAction(w.act_play)
    play_menu.addAction(w.act_loop)
    play_menu.addSeparator()
    play_menu.addAction(w.act_abx)
    view_menu = menu.addMenu("&View")
    for act in w.view_actions:
        view_menu.addAction(act)
    view_menu.addSeparator()
    for act in w.navigation_actions:
        view_menu.addAction(act)
    view_menu.addSeparator()
    view_menu.addAction(w.act_chunks)
    view_menu.addAction(w.act_timeline)
    view_menu.addAction(w.dock.toggleViewAction())
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.act_guide)
    help_menu.addAction(w.act_about)
    w.recent_menu.setToolTipsVisible(True)
    w.files.fill_recent()


def build_toolbar(w) -> None:
    tb = QToolBar("Main", w)
    tb.setObjectName("main-toolbar")
    tb.setMovable(False)
    for act in (w.act_open, w.act_separate, w.act_stop, None, w.act_play, w.act_loop, None):
        tb.addSeparator() if act is None else tb.addAction(act)
    tb.addWidget(QLabel(" Listen to: "))
    w.result_combo = QComboBox(w)
    w.result_combo.setMinimumContentsLength(16)
    w.result_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    w.result_combo.setToolTip("The result shown in the Listen view, heard and exported first")
    tb.addWidget(w.result_combo)
    tb.addSeparator()
    tb.addAction(w.act_export)
    w.addToolBar(tb)
    w.toolbar = tb


def build_status(w) -> None:
    """Stage, progress and ETA of the running job; whether playback works."""
    sb = w.statusBar()
    w.stage_label = ElidedLabel("")  # "model (1/3): separating: chunk 2/40" never widens the window
    w.progress = QProgressBar()
    w.progress.setRange(0, 1000)
    w.progress.setFixedWidth(160)
    w.progress.setTextVisible(False)
    w.eta_label = QLabel("")
    w.audio_label = QLabel("")
    w.audio_label.setStyleSheet("color: #e0a030;")
    for widget in (w.stage_label, w.progress, w.eta_label, w.audio_label):
        sb.addPermanentWidget(widget)
    w.progress.hide()
