/**
 * Where the Datacake token may be sent (the GraphQL API behind the editor pickers): https anywhere, plain http
 * only to this machine (a local stand-in). Pure: used by the broker node's runtime and by the edit dialog.
 */

/** Why the token may not be sent to `text`, or undefined when it may. */
export function apiUrlProblem(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `the API URL ${JSON.stringify(text)} is not a URL`;
  }
  const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) return 'the API URL must be https:// (http:// only to 127.0.0.1/localhost)';
  return undefined;
}
