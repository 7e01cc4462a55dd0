/** A status word in its colour: the colour helps the eye, the word carries the meaning. */
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${/^[a-z]+$/.test(status) ? status : 'unknown'}`}>{status}</span>;
}
