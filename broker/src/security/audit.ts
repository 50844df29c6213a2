// Audit lines for authentication failures, denials, admin actions and limits. Whatever a caller passes,
// secrets never reach the log: fields with secret-sounding names are dropped to "[redacted]", and
// credential-shaped text (authorization headers, JWTs, PEM keys) inside any string is masked.

export type AuditEvent =
  | "auth.failure"
  | "authz.denied"
  | "admin.action"
  | "limit.exceeded"
  | "security.reload"
  | "security.reload_failed";

export type AuditFields = Record<string, unknown>;

/** Where lines go: a winston-like logger (`warn`/`info`) or a plain function. */
export type AuditSink =
  | ((event: AuditEvent, fields: AuditFields) => void)
  | { warn(message: string, meta: object): unknown; info(message: string, meta: object): unknown };

export type Audit = (event: AuditEvent, fields?: AuditFields) => void;

const secretKey =
  /pass(word|wd|phrase)?|secret|token|authorization|cookie|credential|private|^key$|signature/i;
const redacted = "[redacted]";
const credentialText: [RegExp, string][] = [
  [
    /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    "[redacted private key]",
  ],
  [/\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]+/gi, "$1 [redacted]"],
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, "[redacted jwt]"],
];
const maxStringChars = 512;

/** A copy of `value` that is safe to log. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    let s = value;
    for (const [pattern, replacement] of credentialText) s = s.replace(pattern, replacement);
    return s.length > maxStringChars ? `${s.slice(0, maxStringChars)}…` : s;
  }
  if (value instanceof Error) return redact(value.message, depth);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= 4) return "[nested]";
  if (value instanceof Headers) return redact(Object.fromEntries(value.entries()), depth);
  if (Array.isArray(value)) return value.slice(0, 32).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = secretKey.test(k) ? redacted : redact(v, depth + 1);
  return out;
}

/**
 * `audit(event, fields)` writes one line tagged `audit: true`. Failures and denials are warnings;
 * admin actions and reloads are info. Logging must never break the call it reports: sink errors are
 * swallowed.
 */
export function createAudit(sink: AuditSink): Audit {
  return (event, fields = {}) => {
    const safe = redact(fields) as AuditFields;
    try {
      if (typeof sink === "function") sink(event, safe);
      else if (event === "admin.action" || event === "security.reload")
        sink.info(event, { audit: true, ...safe });
      else sink.warn(event, { audit: true, ...safe });
    } catch {
      // An audit sink that throws (closed stream, full disk) must not turn into a failed RPC.
    }
  };
}
