/** The requests to abort when a caller's signal aborts, per signal. */
const watched = new WeakMap<AbortSignal, Set<RequestAbort>>();

/**
 * The abort signal undici watches for one request of switchyard's transport, in the shape undici
 * takes (`aborted`, `reason`, one `abort` listener): aborted by the fetch init's own signal (the
 * SDK's timeout) or by the caller's.
 *
 * A caller's signal outlives many requests (an agent's step signal lasts as long as its actor), so
 * it gets one listener for its whole life, which aborts the requests registered with it: a request
 * costs a set entry there, not an event listener added and removed (Node's EventTarget makes those
 * costly), and no signal composed with `AbortSignal.any`.
 */
export class RequestAbort {
  aborted = false;
  reason: unknown = undefined;
  #listener: (() => void) | undefined;
  readonly #own: AbortSignal | undefined;
  readonly #caller: AbortSignal;

  /** Watches `own` and `caller` for one request, until {@link release}. */
  constructor(own: AbortSignal | undefined, caller: AbortSignal) {
    this.#own = own;
    this.#caller = caller;
    if (own?.aborted) this.abort(own.reason);
    else if (caller.aborted) this.abort(caller.reason);
    else {
      // The request itself listens (its handleEvent): no closure per request.
      own?.addEventListener('abort', this, { once: true });
      requestsOf(caller).add(this);
    }
  }

  /** The own signal aborted. */
  handleEvent(): void {
    this.abort(this.#own?.reason);
  }

  /** undici's listener (it adds one, and removes it when the response closes). */
  addEventListener(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listener === listener) this.#listener = undefined;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#listener?.();
  }

  /** The request is over: stop watching both signals. */
  release(): void {
    this.#own?.removeEventListener('abort', this);
    watched.get(this.#caller)?.delete(this);
  }
}

/** The requests registered with `signal`, which gets its one listener on first use. */
function requestsOf(signal: AbortSignal): Set<RequestAbort> {
  let requests = watched.get(signal);
  if (requests === undefined) {
    const registered = new Set<RequestAbort>();
    signal.addEventListener('abort', () => {
      for (const request of [...registered]) request.abort(signal.reason);
      registered.clear();
    }, { once: true });
    watched.set(signal, registered);
    requests = registered;
  }
  return requests;
}
