import type { ApiError } from '../api/client';

/** An error answer, said plainly, with its code for the operator who will look it up. */
export function ErrorNotice({ error, what }: { error: ApiError | undefined; what?: string }) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert">
      {what ? <strong>{what}: </strong> : null}
      {error.message} <code class="code">{error.code}</code>
    </div>
  );
}
