import { injectable } from 'inversify';

export interface CrmContact {
  id: string;
  fullName: string;
  email: string;
}

const DOMAINS = ['example.com', 'example.org', 'mail.test', 'corp.test'];

/** A stand-in for a remote CRM API: pages of contacts, with some latency. */
@injectable()
export class CrmClient {
  readonly total = 600;
  latencyMs = 60;

  async fetchPage(offset: number, limit: number, signal?: AbortSignal): Promise<CrmContact[]> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, this.latencyMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
    const out: CrmContact[] = [];
    for (let i = offset; i < Math.min(this.total, offset + limit); i++) {
      out.push({ id: `crm-${i + 1}`, fullName: `Contact ${i + 1}`, email: `contact${i + 1}@${DOMAINS[i % DOMAINS.length]}` });
    }
    return out;
  }
}
