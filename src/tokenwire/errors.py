"""The root of every exception tokenwire raises on purpose.

Catch ``TokenwireError`` to catch them all, the way ``httpx.HTTPError`` roots httpx's. Each
module keeps its own exceptions beside the code that raises them; they all derive from this one,
and ``server/error_map.py`` is the one place that turns them into API responses.

The hierarchy (a second base in brackets, kept where code catches that):

* TokenwireError
  + ConfigError [ValueError] ............ config.py: a setting cannot be used
  + DatabaseUnavailable [RuntimeError] .. store/database.py: the database cannot be reached
  + Conflict [RuntimeError] ............. store/database.py: a write broke a uniqueness rule
  + InvalidUser [ValueError] ............ store/tokens.py: not a valid user name
  + ProviderError ....................... providers/base.py: a generation failed (``code``)
  + UnsupportedOutput [TypeError] ....... providers/output.py: model code yielded a non-answer
  + NDJSONError [ValueError] ............ wire/ndjson.py: a line that is not JSON
  + AnswerError [ValueError] ............ wire/openai.py: an upstream's answer cannot go on
    - MalformedAnswer ................... wire/openai.py: not what the API sends
    - ReportedError ..................... wire/openai.py: the upstream reported an error
    - IncompleteAnswer .................. wire/openai.py: no [DONE] and no finish reason
  + StreamNotFound [LookupError] ........ hub/log.py: no such stream, or it expired
    - StreamExpired ..................... hub/log.py: expired; its answer is in the store
  + StreamEnded [ValueError] ............ hub/log.py: nothing may follow the terminal event
  + LogFull [RuntimeError] .............. hub/log.py: as many live streams as the log holds
  + LogUnavailable [RuntimeError] ....... hub/log.py: Redis cannot be reached
    - LogOutageTooLong .................. hub/held_appends.py: past the bounds of holding events
  + StoreOutageTooLong .................. hub/store_writes.py: the database away past the bound
  + ModelNotFound [LookupError] ......... hub/hub.py: no model of that id
  + ConversationNotFound [LookupError] .. hub/hub.py: no such conversation (for this owner)
  + ConversationBusy [RuntimeError] ..... hub/hub.py: an answer still streams in it
  + TooManyStreams [RuntimeError] ....... hub/hub.py: a concurrency limit (``per_user``)
  + ShuttingDown [RuntimeError] ......... hub/hub.py: draining, nothing new starts
  + ToolsUnsupported [ValueError] ....... hub/hub.py: the model cannot be offered tools
  + ToolRequestError [ValueError] ....... hub/hub.py: tools or tool results that do not fit
    - InvalidTools ...................... hub/hub.py: a clash with the model's own tools
    - UnknownToolCall ................... hub/hub.py: a result for a call not waiting for one
    - NoPendingToolCalls ................ hub/hub.py: results when no call is waiting
    - MissingToolResults ................ hub/hub.py: a waiting call left without its result
  + ApiError ............................ server/errors.py: already a status, code and message
  + Unauthorized ........................ server/auth.py: no API token that holds
    - MissingToken ...................... server/auth.py: none was sent
    - InvalidToken ...................... server/auth.py: unknown or revoked
  + ForbiddenOrigin ..................... server/auth.py: a WebSocket from another site's page
  + RateLimited ......................... server/rate_limits.py: over a rate (``retry_after``)
  + TooManyReaders ...................... server/reader_counts.py: too many open stream readers
  + ForeignLoop [RuntimeError] .......... server/mountable.py: called from another event loop
  + ReaderGone .......................... server/multiplex.py: a carrier stopped reading
  + ApiError ............................ client/_errors.py: the server answered an error
  + StreamError ......................... client/_errors.py: the stream broke the protocol
  + ConnectionLost ...................... client/_errors.py: no answer, retries ran out
  + ChatFailed .......................... terminal/session.py: a question could not be asked
  + EmbeddedServerError [RuntimeError] .. desktop/embedded.py: the window's server did not start

``tokenwire.client.TokenwireError`` is this class, re-exported.
"""

from __future__ import annotations


class TokenwireError(Exception):
    """The root of every exception tokenwire raises on purpose."""
