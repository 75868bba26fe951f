// Error codes of the HTTP API and the HTTP status each maps to (docs/api.md "HTTP API (v1)").
export const httpStatusOf = {
  invalid_request: 400,
  invalid_torrent: 400,
  invalid_magnet: 400,
  invalid_url: 400,
  unsupported_torrent: 400,
  unauthorized: 401,
  forbidden: 403,
  url_blocked: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  expired: 410,
  too_large: 413,
  rate_limited: 429,
  fetch_failed: 502,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof httpStatusOf;

/** An error that is safe to show: a machine code and a plain message. */
export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "AppError";
  }
  get status(): number {
    return httpStatusOf[this.code];
  }
}

export function errorBody(err: AppError): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: err.message } };
}
