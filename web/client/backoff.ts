/** Reconnection delays: exponential, capped, with jitter, and never sooner than the server's `retry:`. */

export interface BackoffOptions {
  /** Cap on one delay, in ms. */
  maxDelayMs: number;
  random?: () => number;
}

/** The delay before reconnection attempt `attempt` (0 for the first). */
export function backoffDelay(attempt: number, retryMs: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxDelayMs, retryMs * 2 ** Math.min(attempt, 16));
  // "Equal jitter": half fixed, half random, so clients that dropped together spread out
  // while none hammers the server sooner than it asked.
  return Math.max(retryMs, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}
