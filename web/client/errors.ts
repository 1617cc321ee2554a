/**
 * What can go wrong while reading a stream.
 *
 *   TokenwireError            final: the stream cannot be read (a 4xx, a rejected frame)
 *   └── ConnectionLost        retryable: the connection dropped, stalled or failed; resume
 */

export class TokenwireError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number) {
    super(message);
    this.name = "TokenwireError";
    this.code = code;
    this.status = status;
  }
  /** Whether reconnecting could help: only network failures and 5xx/408/429 answers. */
  get retryable(): boolean {
    return false;
  }
}

export class ConnectionLost extends TokenwireError {
  constructor(message: string, status?: number) {
    super("connection_lost", message, status);
    this.name = "ConnectionLost";
  }
  override get retryable(): boolean {
    return true;
  }
}

/** The error an HTTP answer that is not a stream stands for, from its JSON error body. */
export async function errorFromResponse(response: Response): Promise<TokenwireError> {
  let code = `http_${response.status}`;
  let message = `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  const status = response.status;
  if (status >= 500 || status === 408 || status === 429) return new ConnectionLost(message, status);
  return new TokenwireError(code, message, status);
}
