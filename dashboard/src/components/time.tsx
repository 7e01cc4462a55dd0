import { useNow } from '../app-context';
import { absoluteTime, relativeTime } from '../format';

/** "3 min ago", with the exact time as tooltip and machine-readable `datetime`. */
export function Time({ iso }: { iso: string | null | undefined }) {
  const now = useNow();
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso, now)}
    </time>
  );
}
