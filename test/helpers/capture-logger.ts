import { Writable } from 'node:stream';
import { createLogger, transports, type Logger } from 'winston';

/** A winston logger whose lines (JSON text, at `level` and above) are pushed to `lines`. */
export function captureLogger(lines: string[], level = 'warn'): Logger {
  return createLogger({
    level,
    transports: [
      new transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(String(chunk));
            done();
          },
        }),
      }),
    ],
  });
}
