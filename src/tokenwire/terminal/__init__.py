"""``tokenwire chat`` and ``tokenwire history``: the answer streamed into a terminal.

- ``commands``: what the two commands do; ``cli.py`` only declares their options.
- ``backend``: where answers come from: a remote server, or the server's app in this process.
- ``inprocess``: runs the server's own ASGI app in this process, spoken to without a port.
- ``session``: asks one question and shows its answer as it streams; Ctrl-C cancels it.
- ``repl``: the interactive prompt, with history, multi-line input and slash commands.
- ``render``: shows a streaming answer: live markdown in a terminal, plain text in a pipe.
- ``tools``: tool calls and results as one line each, safe to print; when a call is complete.
- ``blocks``: cuts streamed markdown into blocks no later text can change.
- ``tail``: the part of the open block the live region renders, enough to fill the screen.
- ``outline``: what an open block's lines say about where it may be cut.
- ``history``: stored conversations, listed, or one shown as it was answered.
"""
