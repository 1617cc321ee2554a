"""``tokenwire chat`` and ``tokenwire history``: the answer streamed into a terminal.

``blocks`` cuts streamed markdown into finished blocks, ``render`` prints each finished block once
into the scrollback and redraws only the unfinished tail, ``inprocess`` runs the server's own app
without a port, ``session`` asks and shows answers, ``repl`` is the interactive prompt.
"""
