import { useState } from 'preact/hooks';
import type { ApiError } from './api/client';

export interface ActionState {
  /** a call is under way: its buttons are disabled */
  busy: boolean;
  /** what the server said when it refused the last call */
  error: ApiError | undefined;
  /** runs one call (a mutation and what follows it), keeping `busy` and `error` */
  run(fn: () => Promise<void>): Promise<void>;
}

/** The state of the buttons that call a mutation: busy while it runs, its refusal afterwards. */
export function useAction(): ActionState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = async (fn: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
