import { useState } from 'preact/hooks';

/**
 * The sign-in form: a Token field and a Sign in button. `signIn` checks the token with the server
 * and answers with what went wrong, if anything.
 */
export function SignIn({ signIn, notice }: { signIn(token: string): Promise<string | null>; notice: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const value = token.trim();
    if (value === '') {
      setError('Enter the token you were given.');
      return;
    }
    setBusy(true);
    setError(await signIn(value));
    setBusy(false);
  };

  return (
    <main class="sign-in" id="main">
      <form class="card sign-in-card" onSubmit={submit} noValidate>
        <h1 class="brand-title">tasklane</h1>
        <p class="muted">Sign in with an access token to see and steer background tasks.</p>
        {notice && !error ? (
          <div class="notice" role="status">
            {notice}
          </div>
        ) : null}
        <label class="field" for="token">
          <span class="field-label">Token</span>
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="current-password"
            value={token}
            onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'token-error' : undefined}
            autoFocus
          />
        </label>
        {error ? (
          <p class="field-error" id="token-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="button primary" disabled={busy}>
          Sign in
        </button>
        <p class="hint">The token is kept for this browser tab only.</p>
      </form>
    </main>
  );
}
