import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, GraphQLClient } from './api/client';
import { MeQuery } from './api/operations';
import type { Viewer } from './api/types';
import { NowContext, SessionContext } from './app-context';
import { clearToken, loadToken, saveToken } from './auth/session';
import { ErrorNotice } from './components/notice';
import { hrefOf, type Route } from './router';
import { useRoute } from './use-route';
import { DefinitionPage } from './views/definition-page';
import { Definitions } from './views/definitions';
import { Nodes } from './views/nodes';
import { RunPage } from './views/run-page';
import { Runs } from './views/runs';
import { SignIn } from './views/sign-in';
import { TriggerPage } from './views/trigger-form';

type Auth =
  { state: 'signed-out'; notice: string | null } | { state: 'checking' } | { state: 'signed-in'; viewer: Viewer } | { state: 'unreachable'; error: ApiError };

export function App() {
  const token = useRef<string | null>(loadToken());
  const [auth, setAuth] = useState<Auth>(token.current ? { state: 'checking' } : { state: 'signed-out', notice: null });
  const [now, setNow] = useState(Date.now());

  const signOut = (notice: string | null): void => {
    token.current = null;
    clearToken();
    setAuth({ state: 'signed-out', notice });
  };

  const client = useMemo(
    () =>
      new GraphQLClient({
        // relative to the page: works under whatever basePath the host mounted the API on
        endpoint: new URL('graphql', document.baseURI).href,
        token: () => token.current,
        unauthenticated: () => {
          if (token.current) signOut('Your session has ended or the token was refused: sign in again.');
        },
      }),
    [],
  );

  const check = async (): Promise<string | null> => {
    try {
      const viewer = (await client.request(MeQuery, {})).backgroundTasks.me;
      setAuth({ state: 'signed-in', viewer });
      return null;
    } catch (err) {
      const error = err as ApiError;
      if (error.code === 'UNAUTHENTICATED') {
        signOut(null);
        return 'This token was refused (unknown or expired).';
      }
      setAuth({ state: 'unreachable', error });
      return error.message;
    }
  };

  useEffect(() => {
    if (token.current) void check();
    const timer = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(timer);
  }, []);

  const signIn = async (value: string): Promise<string | null> => {
    token.current = value;
    saveToken(value);
    return check();
  };

  if (auth.state === 'signed-out') return <SignIn signIn={signIn} notice={auth.notice} />;
  if (auth.state === 'checking')
    return (
      <p class="muted center" role="status">
        Signing in…
      </p>
    );
  if (auth.state === 'unreachable') {
    return (
      <main class="sign-in" id="main">
        <div class="card sign-in-card">
          <h1 class="brand-title">tasklane</h1>
          <ErrorNotice error={auth.error} what="The management API did not answer" />
          <div class="button-row">
            <button
              type="button"
              class="button primary"
              onClick={() => {
                setAuth({ state: 'checking' });
                void check();
              }}
            >
              Try again
            </button>
            <button type="button" class="button" onClick={() => signOut(null)}>
              Sign out
            </button>
          </div>
        </div>
      </main>
    );
  }
  return (
    <SessionContext.Provider value={{ client, viewer: auth.viewer }}>
      <NowContext.Provider value={now}>
        <Shell viewer={auth.viewer} signOut={() => signOut('Signed out.')} />
      </NowContext.Provider>
    </SessionContext.Provider>
  );
}

function Shell({ viewer, signOut }: { viewer: Viewer; signOut(): void }) {
  const route = useRoute();
  const section = route.view === 'trigger' || route.view === 'definition' ? 'definitions' : route.view === 'run' ? 'runs' : route.view;
  const mainRef = useRef<HTMLElement>(null);
  // a new view: move focus to it, as a page load would, so keyboard and screen reader users follow
  useEffect(() => {
    mainRef.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [route.view, route.view === 'run' || route.view === 'definition' ? route.id : '']);

  const link = (to: Route, name: string, key: string) => (
    <a href={hrefOf(to)} class={section === key ? 'nav-link active' : 'nav-link'} aria-current={section === key ? 'page' : undefined}>
      {name}
    </a>
  );
  return (
    <>
      <a
        href="#main"
        class="skip-link"
        onClick={(e) => {
          e.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">tasklane</span>
        <nav aria-label="Main">
          {link({ view: 'definitions' }, 'Definitions', 'definitions')}
          {link({ view: 'runs' }, 'Runs', 'runs')}
          {link({ view: 'nodes' }, 'Nodes', 'nodes')}
        </nav>
        <div class="who">
          <span class="who-name">{viewer.name}</span>
          <span class={`role role-${viewer.role}`}>{viewer.role}</span>
          {viewer.tenant ? (
            <span class="chip" title="tenant">
              {viewer.tenant}
            </span>
          ) : null}
          <button type="button" class="button small ghost on-dark" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1} class="content">
        {route.view === 'definitions' ? <Definitions /> : null}
        {route.view === 'definition' ? <DefinitionPage key={route.id} id={route.id} /> : null}
        {route.view === 'trigger' ? <TriggerPage key={route.definitionId} definitionId={route.definitionId} /> : null}
        {route.view === 'runs' ? <Runs definitionId={route.definitionId} status={route.status} parentId={route.parentId} /> : null}
        {route.view === 'run' ? <RunPage key={route.id} id={route.id} /> : null}
        {route.view === 'nodes' ? <Nodes /> : null}
      </main>
    </>
  );
}
