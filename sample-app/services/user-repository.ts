import { injectable } from 'inversify';

export interface User {
  id: string;
  name: string;
  email: string;
  city?: string;
  source: 'crm' | 'csv';
}

/** The host's own data: a small in-memory user store the tasks fill and read. */
@injectable()
export class UserRepository {
  private readonly users = new Map<string, User>();

  upsert(user: User): void {
    this.users.set(user.id, { ...user });
  }

  get(id: string): User | undefined {
    return this.users.get(id);
  }

  count(source?: User['source']): number {
    if (!source) return this.users.size;
    let n = 0;
    for (const u of this.users.values()) if (u.source === source) n++;
    return n;
  }

  /** a page of users in insertion order */
  slice(offset: number, limit: number): User[] {
    return [...this.users.values()].slice(offset, offset + limit);
  }

  /** the most common e-mail domains, most frequent first */
  topDomains(limit = 3): Array<{ domain: string; users: number }> {
    const counts = new Map<string, number>();
    for (const u of this.users.values()) {
      const domain = u.email.split('@')[1] ?? '?';
      counts.set(domain, (counts.get(domain) ?? 0) + 1);
    }
    return [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, limit)
      .map(([domain, users]) => ({ domain, users }));
  }
}
