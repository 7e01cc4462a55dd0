// A fixture of leak-guard.test.ts (not run by the suite): leaves an interval armed, unref'd.
test('arms an interval and forgets it', () => {
  setInterval(() => undefined, 60_000).unref();
});
