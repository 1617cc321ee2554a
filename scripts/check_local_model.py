"""Does the installed llama.cpp run on this machine? Loads the bundled model and decodes a token.

A llama.cpp build is tuned to the CPU it was built on; a wheel from pip's cache built elsewhere, or
with instructions this machine's kernel does not allow (AMX in some VMs), dies with SIGSEGV or
SIGILL at the first decode. Run in a subprocess: such a crash is an exit status, not setup's end.
"""

from __future__ import annotations

from llama_cpp import Llama

from tokenwire.providers.local import bundled_model_path

llm = Llama(model_path=str(bundled_model_path()), n_ctx=256, verbose=False)
llm.create_completion("Hello", max_tokens=1)
print("local model: ok")
