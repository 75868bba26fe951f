// The page's Content-Security-Policy and security headers: ingest sends them in local mode, and
// CloudFront's response headers policy sends the same in AWS mode (stacks/page-front.ts).
/**
 * The page's CSP. Played media and shown images load from presigned URLs on the storage endpoint (the
 * /d/ link redirects there, and CSP checks the redirect's target too): media-src and img-src name that
 * one origin, nothing wider. Text is fetched through /d/ (?view=text), so connect-src stays 'self'.
 */
export function pageCsp(storageOrigin: string | null): string {
  const store = storageOrigin ? ` ${storageOrigin}` : "";
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:${store}; media-src 'self'${store}; connect-src 'self'; ` +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
}

export const referrerPolicy = "no-referrer";

export const permissionsPolicy = "camera=(), microphone=(), geolocation=(), interest-cohort=()";

/** Max-age of Strict-Transport-Security, in seconds (two years). */
export const hstsMaxAgeS = 63_072_000;

/** The headers CloudFront's response headers policy adds to every answer (stacks/page-front.ts). */
export const frontHeaders = (storageOrigin: string | null): Record<string, string> => ({
  "content-security-policy": pageCsp(storageOrigin),
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": referrerPolicy,
  "strict-transport-security": `max-age=${hstsMaxAgeS}; includeSubDomains`,
  "permissions-policy": permissionsPolicy,
});
