/**
 * The token the person signed in with, kept for this browser tab only (sessionStorage: gone when the
 * tab closes, never shared with other tabs, never put in a URL).
 */
const KEY = 'tasklane.token';

export function loadToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the person signs in again on reload
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // kept in memory only (see App)
  }
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
