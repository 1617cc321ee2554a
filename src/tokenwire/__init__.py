"""tokenwire: carry a language model's answer to the reader, token by token."""

__version__ = "0.1.0"
