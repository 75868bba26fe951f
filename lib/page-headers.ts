// The page's Content-Security-Policy and security headers: ingest sends them in local mode, and
// CloudFront's response headers policy sends the same in AWS mode (stacks/page-front.ts).
export const pageCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export const referrerPolicy = "no-referrer";
