import { readProgress } from '../api/types';

/**
 * A run's progress as a `progressbar` whose `aria-valuenow`/`aria-valuemax` follow the reported
 * `current`/`total`. Without a total the bar is indeterminate (no value), as ARIA says. Once the
 * run ended the fill takes its status colour (stopped at 2 of 20 reads differently aborted than failed).
 */
export function ProgressBar({ progress, label, status }: { progress: unknown; label: string; status: string }) {
  const { current, total, info } = readProgress(progress);
  const known = total !== undefined && total > 0 && current !== undefined;
  const percent = known ? Math.max(0, Math.min(100, (current / total) * 100)) : 0;
  const text = known ? `${current} / ${total}` : current !== undefined ? String(current) : '';
  return (
    <div class={`progress progress-${/^[a-z]+$/.test(status) ? status : 'unknown'}`}>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuenow={known ? current : undefined}
        aria-valuemax={known ? total : undefined}
        aria-valuetext={known ? `${current} of ${total}${info ? `: ${info}` : ''}` : info || undefined}
        class={known ? 'progress-track' : 'progress-track indeterminate'}
      >
        <div class="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span class="progress-text">
        {text}
        {info ? <span class="progress-info">{info}</span> : null}
      </span>
    </div>
  );
}
