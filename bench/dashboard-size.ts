import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface AssetSize {
  file: string;
  bytes: number;
  gzipBytes: number;
}

/** The built dashboard's files with their raw and gzipped sizes (gzip level 9, as a server would send them). */
export function dashboardAssetSizes(dir: string): AssetSize[] {
  const out: AssetSize[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const data = readFileSync(path);
        out.push({ file: relative(dir, path), bytes: data.length, gzipBytes: gzipSync(data, { level: 9 }).length });
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => b.gzipBytes - a.gzipBytes);
}

/** Prints the dashboard section of `npm run bench`. */
export function printDashboardSize(dir: string): void {
  console.log('\n== dashboard assets (dashboard/dist, budget 250 KB gzipped in all)');
  let sizes: AssetSize[];
  try {
    sizes = dashboardAssetSizes(dir);
  } catch {
    console.log('not built: run npm run build:dashboard');
    return;
  }
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
  for (const s of sizes) console.log(`  ${s.file.padEnd(40)} ${kb(s.bytes).padStart(10)}  ${kb(s.gzipBytes).padStart(9)} gzipped`);
  const total = sizes.reduce((sum, s) => sum + s.gzipBytes, 0);
  console.log(`total: ${kb(sizes.reduce((sum, s) => sum + s.bytes, 0))}, ${kb(total)} gzipped (${((total / (250 * 1024)) * 100).toFixed(0)}% of the budget)`);
}
