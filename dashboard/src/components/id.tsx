/**
 * A run or node id, whole, in monospace. Not shortened: ULIDs of runs triggered together share all
 * but their last characters, so any short form would make neighbouring rows look alike.
 */
export function Id({ value }: { value: string }) {
  return <code class="id">{value}</code>;
}
