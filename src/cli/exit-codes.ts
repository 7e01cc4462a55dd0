/** The exit codes of the `tasklane` CLI (MANAGEMENT.md section 5: fixed, scripts depend on them). */
export const EXIT = {
  OK: 0,
  /** the watched or followed run ended failed or aborted; or the server refused the operation otherwise */
  FAILED: 1,
  USAGE: 2,
  /** unauthenticated (a missing token too) or forbidden */
  AUTH: 3,
  NOT_FOUND: 4,
  INPUT_INVALID: 5,
  UNREACHABLE: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports on stderr and exits with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** lines printed after the message (e.g. each invalid property) */
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** the exit code of an API error code */
export function exitCodeOf(apiCode: string | undefined): ExitCode {
  switch (apiCode) {
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
      return EXIT.AUTH;
    case 'TASK_NOT_FOUND':
    case 'UNKNOWN_DEFINITION':
      return EXIT.NOT_FOUND;
    case 'INPUT_INVALID':
    case 'INPUT_TOO_LARGE':
    case 'INPUT_TOO_DEEP':
    case 'INPUT_TOO_COMPLEX':
      return EXIT.INPUT_INVALID;
    case 'INVALID_ARGUMENT':
    case 'IDENTIFIER_INVALID':
    case 'TASK_NAME_INVALID':
    case 'QUERY_TOO_COMPLEX':
      return EXIT.USAGE;
    default:
      return EXIT.FAILED;
  }
}
