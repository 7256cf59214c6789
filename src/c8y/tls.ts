/**
 * What a failed TLS handshake means for a device connection, in words a user can act on (status and log).
 * Pure: reads Node.js's error codes (`err.code`) and OpenSSL alert texts, no sockets.
 *
 * Decision: certificate problems are retried with the connection's exponential backoff (1 s doubling up to
 * 2 minutes, with jitter), not stopped: a server certificate that expired or a CA that is being rolled out is
 * usually fixed on the server side, and the device must come back by itself. The backoff keeps it from a tight
 * loop; the status says what is wrong and when the next try is.
 */

export interface TlsProblem {
  /** Short, for the node status: `TLS: server certificate expired`. */
  status: string;
  /** The log line: meaning and what to do. */
  log: string;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** The TLS problem behind a connection error, or undefined when it is not one. `host` is the host we connect to. */
export function tlsProblem(err: { code?: unknown; message?: unknown } | undefined, host: string): TlsProblem | undefined {
  if (!err) return undefined;
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : '';
  const make = (status: string, action: string): TlsProblem => ({ status: `TLS: ${status}`, log: `TLS handshake with ${host} failed: ${status} (${code || message}). ${action}; retrying with backoff.` });
  if (UNTRUSTED.has(code)) return make('server certificate not trusted (unknown CA)', 'Give the CA that signed the server certificate in the TLS configuration, or check that the host is the right one');
  if (code === 'CERT_HAS_EXPIRED') return make('server certificate expired', 'The server must renew its certificate (or the device clock is wrong)');
  if (code === 'CERT_NOT_YET_VALID') return make('server certificate not yet valid', 'Check the device clock');
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return make(`server certificate is not for host ${host}`, 'Connect with the host name the certificate was issued for');
  // Alerts from the server about OUR certificate (two-way TLS).
  if (/alert (?:certificate required|handshake failure|bad certificate|unknown ca|certificate unknown)|alert number 116|PEER_DID_NOT_RETURN_A_CERTIFICATE/i.test(`${code} ${message}`)) {
    return make('the server refused the client certificate', 'Check the client certificate and key in the TLS configuration (CN = device id, signed by a CA the tenant trusts)');
  }
  if (/alert certificate expired/i.test(message) || code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED') return make('the client certificate expired', 'Renew the device certificate');
  if (/^ERR_SSL_|^ERR_TLS_/.test(code)) return make(message || code, 'Check the TLS configuration');
  return undefined;
}
