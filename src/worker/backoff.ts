/** Retry delays: base × 2^attempt (the reference's rule), capped, with optional jitter. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** 0..1: the delay varies by up to this fraction either way. */
  jitter: number;
}

export function retryDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const raw = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 60));
  const spread = raw * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(raw + spread));
}
