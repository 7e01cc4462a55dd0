/** A run or node id: monospace, shortened for the eye, whole for copy and for screen readers. */
export function Id({ value, full = false }: { value: string; full?: boolean }) {
  const short = !full && value.length > 14 ? `${value.slice(0, 8)}…${value.slice(-4)}` : value;
  return (
    <code class="id" title={value}>
      {short === value ? value : <><span aria-hidden="true">{short}</span><span class="sr-only">{value}</span></>}
    </code>
  );
}
