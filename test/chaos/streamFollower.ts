/** Follows a stream with a stock ordered consumer (it survives a server restart), each message once. */
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

export interface StreamFollower {
  /** Resolves once every message stored so far was handed over; rejects after `ms`. */
  caughtUp(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** Hands each message's JSON and the time the server stored it (epoch ms) to `onMessage`, in order. */
export async function followStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  onMessage: (data: unknown, at: number) => void,
): Promise<StreamFollower> {
  const consumer = await js.consumers.get(stream);
  let lastSeq = 0;
  const messages: ConsumerMessages = await consumer.consume({
    // Short pulls (heartbeats every second): after a server restart the consumer is re-created
    // within seconds instead of the default 30 s.
    expires: 2_000,
    callback: (msg) => {
      // An ordered consumer re-created after a restart resumes after the last sequence it saw;
      // skip anything older all the same.
      if (msg.seq <= lastSeq) return;
      lastSeq = msg.seq;
      let data: unknown;
      try {
        data = msg.json();
      } catch {
        data = { unparsable: msg.string() };
      }
      onMessage(data, msg.time.getTime());
    },
  });
  return {
    async caughtUp(ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const { state } = await jsm.streams.info(stream);
        if (lastSeq >= state.last_seq) return;
        if (Date.now() > deadline) throw new Error(`stream ${stream}: read up to ${lastSeq} of ${state.last_seq} within ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await messages.close();
    },
  };
}
