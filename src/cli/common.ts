/** What several subcommands share: where the running server is, which token to use, and how a failure to reach it reads. */
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { MailboxError } from '../errors.ts';
import { usageError, type CommandSpec, type OptionSpecs } from './args.ts';
import { cliConfig, targetCa, targetToken, targetUrl, type ClientTarget, type ConfigFlags, type TargetFlags } from './target.ts';

export { cliConfig, clientTarget, targetCa, targetToken, targetUrl } from './target.ts';
export type { ClientTarget, ConfigFlags, TargetFlags } from './target.ts';

/** --config and --data-dir: which configuration the server was started with. */
export const CONFIG_OPTIONS = { config: { type: 'string' }, 'data-dir': { type: 'string' } } as const satisfies OptionSpecs;
/** --ca FILE: the PEM CA an https:// admin port's or a wss:// listener's certificate is checked against. */
export const CA_OPTION = { ca: { type: 'string' } } as const satisfies OptionSpecs;
/** The --help line of --ca, the same in every command. */
export const CA_HELP = '  --ca FILE        PEM CA certificate that signed the server\'s TLS certificate (a self-signed one: the certificate itself)';
/** --admin URL of the admin port, and the token /debug needs when the port is not on loopback. */
export const ADMIN_OPTIONS = { ...CONFIG_OPTIONS, admin: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, ...CA_OPTION } as const satisfies OptionSpecs;
/** --url of the WebSocket port and the token to present. */
export const CLIENT_OPTIONS = { ...CONFIG_OPTIONS, url: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, ...CA_OPTION } as const satisfies OptionSpecs;

/** A URL given on the command line, checked for its scheme; anything else is a usage error. */
function checkedUrl(spec: CommandSpec<OptionSpecs>, flag: string, raw: string, schemes: readonly string[], example: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(spec, `--${flag} must be a ${schemes.join(' or ')} URL such as ${example}, got ${JSON.stringify(raw)}`);
  }
  if (!schemes.includes(url.protocol.slice(0, -1)) || url.hostname === '') {
    throw usageError(spec, `--${flag} must be a ${schemes.join(' or ')} URL such as ${example}, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** --admin, else `http://<metricsAddr>` of the configuration (`https://` when it has tls). */
export async function adminUrl(spec: CommandSpec<OptionSpecs>, flags: ConfigFlags & { admin?: string }): Promise<string> {
  if (flags.admin !== undefined) return checkedUrl(spec, 'admin', flags.admin, ['http', 'https'], 'http://127.0.0.1:9600');
  const config = await cliConfig(flags);
  return `${config.tls.certFile ? 'https' : 'http'}://${config.metricsAddr}`;
}

/** The token if one can be found (for the admin port's /debug, which needs one off loopback only), else undefined. */
export async function optionalToken(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const named = flags['token-file'] !== undefined || Boolean(env.MAILBOX_TOKEN_FILE);
  return targetToken(flags, env).catch((err: unknown) => {
    // Only the default token file may be missing; a file the user named must be there.
    if (!named && err instanceof MailboxError && err.code === 'E_CAP_AUTH') return undefined;
    throw err;
  });
}

/** An Authorization header with the token, when there is one. */
export async function adminHeaders(flags: TargetFlags): Promise<Record<string, string>> {
  const t = await optionalToken(flags);
  return t === undefined ? {} : { authorization: `Bearer ${t}` };
}

/** clientTarget with the URL checked as a ws(s) URL (a usage error otherwise). */
export async function cliTarget(spec: CommandSpec<OptionSpecs>, flags: TargetFlags): Promise<ClientTarget> {
  const url = checkedUrl(spec, 'url', await targetUrl(flags), ['ws', 'wss'], 'ws://127.0.0.1:9410');
  const ca = await targetCa(flags);
  return { url, token: await targetToken(flags), ...(ca ? { ca } : {}) };
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by peer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed by peer',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by peer',
};

/** The errno code somewhere in an error's cause chain (fetch puts it in `cause`, sometimes in an AggregateError). */
export function errnoOf(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const code = (err as { code?: unknown }).code;
  // Errno codes (ECONNREFUSED) and undici's (UND_ERR_SOCKET); not wire codes such as E_UNAVAILABLE.
  if (typeof code === 'string' && (/^E[A-Z0-9]+$/.test(code) || code.startsWith('UND_ERR_'))) return code;
  const nested = err instanceof AggregateError ? err.errors : [];
  for (const e of [(err as { cause?: unknown }).cause, ...nested]) {
    const found = errnoOf(e, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** OpenSSL's verdicts on a certificate whose CA is not trusted: --ca is the remedy. */
const UNKNOWN_CA = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** The certificate verification code somewhere in an error's cause chain (`DEPTH_ZERO_SELF_SIGNED_CERT`), if any. */
export function certErrorOf(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNKNOWN_CA.has(code) || /^(CERT_|ERR_TLS_CERT)/.test(code))) return code;
  const nested = err instanceof AggregateError ? err.errors : [];
  for (const e of [(err as { cause?: unknown }).cause, ...nested]) {
    const found = certErrorOf(e, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** What went wrong on the network, in words: `connection refused`, else the error's message. */
export function causeText(err: unknown): string {
  const cert = certErrorOf(err);
  if (cert !== undefined) {
    let inner = err;
    while (inner instanceof Error && inner.cause instanceof Error && (inner as { code?: unknown }).code !== cert) inner = inner.cause;
    const text = inner instanceof Error ? inner.message : cert;
    return UNKNOWN_CA.has(cert) ? `${text} (pass --ca FILE)` : text;
  }
  const code = errnoOf(err);
  if (code) return ERRNO_TEXT[code] ?? code;
  // No errno: the innermost cause says most ("bad port" under fetch's "fetch failed").
  let inner = err;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  return inner instanceof Error ? inner.message : String(inner);
}

/** The server could not be reached: main.ts prints the message alone (no wire code), exit 1. */
export class UnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

/** `cannot reach http://127.0.0.1:9600: connection refused`: names the server and the cause, never a stack. */
export function cannotReach(url: string, err: unknown): UnreachableError {
  const cause = causeText(err);
  let where = url;
  try {
    const u = new URL(url);
    where = `${u.protocol}//${u.host}`;
  } catch {
    // not a URL: name it as given
  }
  return new UnreachableError(`cannot reach ${where}: ${cause}`, { cause: err });
}

/** fetch's options plus the CA (--ca) an https:// server's certificate is checked against. */
export type ServerRequestInit = RequestInit & { ca?: Buffer | undefined };

/** Statuses whose Response may carry no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * fetch, except that https:// goes through node:https: fetch takes no CA, and verification
 * against --ca (or Node's default CAs without it) must never be skipped. The answer is a
 * streaming Response either way.
 */
export function requestServer(url: string, init: ServerRequestInit = {}): Promise<Response> {
  const { ca, ...rest } = init;
  if (!url.startsWith('https:')) return fetch(url, rest);
  const body = rest.body;
  if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('requestServer: only string bodies are supported over https');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      method: rest.method ?? 'GET',
      headers: Object.fromEntries(new Headers(rest.headers)),
      // One-shot commands: no pooled socket to keep the process alive, and the CA applies to this request only.
      agent: false,
      ...(ca ? { ca } : {}),
      ...(rest.signal ? { signal: rest.signal } : {}),
    }, (res) => {
      const status = res.statusCode ?? 0;
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
      }
      const empty = NULL_BODY.has(status) || rest.method === 'HEAD';
      if (empty) res.resume();
      resolve(new Response(empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>), { status, headers }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** requestServer that names the server and the cause when it cannot be reached. */
export async function fetchServer(url: string, init?: ServerRequestInit): Promise<Response> {
  try {
    return await requestServer(url, init);
  } catch (err) {
    throw cannotReach(url, err);
  }
}

export async function getJson(url: string, init?: ServerRequestInit): Promise<unknown> {
  const res = await fetchServer(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = body as { code?: string; message?: string };
    throw new Error(`${url}: HTTP ${res.status} ${e.code ?? ''} ${e.message ?? JSON.stringify(body)}`);
  }
  return body;
}
