import winston from "winston";

export type Logger = winston.Logger;

/** JSON lines on stderr, one object per event, with the node's identity on every line. */
export function createLogger(level: string, fields: Record<string, string>): Logger {
  return winston.createLogger({
    level,
    defaultMeta: fields,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}

/** For tests and embedded use: a logger that drops everything. */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}
