import { buildForChildren } from './child-build';

/** jest's globalSetup: once per `jest` run, before any test file (see child-build.ts) */
export default function globalSetup(): void {
  buildForChildren();
}
