import { createLogger, format, transports, type Logger } from 'winston';

/**
 * The logger used when the host binds none: JSON lines on stdout, level from TASKLANE_LOG_LEVEL
 * (default `warn`; `silent` turns it off).
 */
export function defaultLogger(): Logger {
  const level = process.env.TASKLANE_LOG_LEVEL ?? 'warn';
  return createLogger({
    level: level === 'silent' ? 'error' : level,
    silent: level === 'silent',
    format: format.combine(format.timestamp(), format.json()),
    defaultMeta: { service: 'tasklane' },
    transports: [new transports.Console()],
  });
}
