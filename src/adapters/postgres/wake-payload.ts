/** due times of runnable runs by definition id; 0 means due now */
export type WakeEntries = Record<string, number[]>;

/**
 * The payload of a NOTIFY on `<schema>.wake`: `{"n": <sender node id>, "w": {<definition id>: [<due>, ...]}}`.
 * Receivers skip their own notices unparsed by the `{"n":<own id>,` prefix (the sender woke
 * itself when it sent them).
 *
 * A wake-up sent through a host's transaction (see PostgresDistribution.runnableInTransaction)
 * names its sender under `tx` instead of `n`: delivered only if the host commits, and at an
 * instant the sender cannot know, so the sender is woken by its own LISTEN like every other node.
 */
export function wakePayload(entries: WakeEntries, from: { node: string } | { transactionOf: string }): string {
  return 'node' in from ? JSON.stringify({ n: from.node, w: entries }) : JSON.stringify({ tx: from.transactionOf, w: entries });
}
