/**
 * The signatures of the hook deliveries a process took, each until its timestamp leaves the
 * tolerance (then the signature is refused anyway): a signature covers `"<timestamp>.<body>"`, not
 * the delivery id that names the thread, so a request seen once (a proxy's log, a mirror) could
 * otherwise be sent again under another id, and launch again, while its timestamp is fresh. The
 * same delivery again (a retry) is still taken. Within one process: behind a load balancer, a
 * replay that reaches another `serve` is not seen.
 */
export interface ReplayGuard {
  /**
   * The delivery id that used `signature` before, when it is not `deliveryId` (a replay);
   * otherwise undefined, and `signature` is remembered for `deliveryId` until `expiresAt` (epoch ms).
   */
  usedBy(signature: string, deliveryId: string, expiresAt: number, now: number): string | undefined;
}

/** How many signatures a process remembers at most: the oldest go first past it. */
const MAX_REMEMBERED = 50_000;

/** A {@link ReplayGuard} in memory, bounded to {@link MAX_REMEMBERED} signatures. */
export function createReplayGuard(max = MAX_REMEMBERED): ReplayGuard {
  // In the order they were first seen; an entry past its expiry is dropped when met at the front.
  const seen = new Map<string, { readonly deliveryId: string; readonly expiresAt: number }>();
  return {
    usedBy(signature, deliveryId, expiresAt, now) {
      for (const [key, entry] of seen) {
        if (entry.expiresAt > now && seen.size <= max) break;
        seen.delete(key);
      }
      const before = seen.get(signature);
      if (before !== undefined && before.expiresAt > now) return before.deliveryId === deliveryId ? undefined : before.deliveryId;
      seen.delete(signature);
      seen.set(signature, { deliveryId, expiresAt });
      return undefined;
    },
  };
}
