import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError, GraphQLClient } from './api/client';
import type { Viewer } from './api/types';

export interface Session {
  client: GraphQLClient;
  viewer: Viewer;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in session; views render only inside one. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** The current time, advanced every 10 s: relative times ("3 min ago") stay true without a timer each. */
export const NowContext = createContext<number>(Date.now());

/**
 * The time to render with: the shared tick, or the clock when a row renders between ticks (it
 * re-renders because its data changed), so a run that started a second ago never reads "in 5 s".
 */
export function useNow(): number {
  return Math.max(useContext(NowContext), Date.now());
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Runs `load` when `deps` change (and on `reload()`), keeping the last data while a new load runs.
 * An answer that arrives after a newer load started is dropped, so fast filter changes never show
 * an older result last.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [version, setVersion] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => ticket === latest.current && setState({ data, loading: false }),
      (error: ApiError) => ticket === latest.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, [...deps, version]);
  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Calls `fn` every `ms` while the page is visible. */
export function useInterval(fn: () => void, ms: number | null): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (ms === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') saved.current();
    }, ms);
    return () => clearInterval(timer);
  }, [ms]);
}
