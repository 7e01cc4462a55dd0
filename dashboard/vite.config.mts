import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * Builds the dashboard into dashboard/dist/, the folder the management server serves at `/` by
 * default (createManagementHandler's `dashboard` option).
 * `base: './'`: asset URLs are relative, so the page works under any `basePath` the host mounts the
 * management handler on. No module preload polyfill or other runtime helper is fetched from
 * anywhere: everything is in the files written here.
 */
const config: UserConfig = {
  root: here,
  base: './',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
};

export default defineConfig(({ command }) => {
  // A build is for production whatever NODE_ENV it runs under (jest sets `test`, which Vite would
  // honour with a larger, unminified build); Vite reads NODE_ENV after loading this file.
  if (command === 'build') process.env.NODE_ENV = 'production';
  return config;
});
