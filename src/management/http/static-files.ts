import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** a file name carrying a content hash (`index-3f9a1c2b.js`, as Vite and the like build them) */
const HASHED = /[.-][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

/**
 * The dashboard's built files, served from one folder (the dashboard is built at build time; no
 * bundler runs here). `index.html` answers `/` and every path without an extension (the page's
 * own routes); hashed assets are cached for a year, the rest revalidated. Nothing outside the
 * folder is reachable. The pages load nothing from another host (Content-Security-Policy `'self'`).
 */
export class StaticFiles {
  private readonly root: string;

  constructor(folder: string) {
    this.root = resolve(folder);
  }

  /** whether the folder holds a built dashboard */
  get available(): boolean {
    return existsSync(join(this.root, 'index.html'));
  }

  /** serves `path` (relative to the dashboard's base), or answers 404 */
  serve(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(path).replace(/^\/+/, '');
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Bad Request\n');
      return;
    }
    if (relative === '' || extname(relative) === '') relative = 'index.html';
    const file = resolve(this.root, normalize(relative));
    if ((file !== this.root && !file.startsWith(this.root + sep)) || relative.includes('\0')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return;
    }
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res
        .writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(this.available ? 'Not Found\n' : 'The dashboard is not built: no index.html in its folder.\n');
      return;
    }
    const name = file.slice(this.root.length + 1);
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': size,
      'Cache-Control': HASHED.test(name) && !name.endsWith('.html') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'Content-Security-Policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  }
}
