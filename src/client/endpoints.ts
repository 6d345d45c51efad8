/**
 * The server URLs a client may connect to: validated once, then tried round robin. Several
 * URLs name instances of one deployment (any instance accepts any client); the client holds
 * one connection at a time and takes the next URL on every attempt, so when an instance goes
 * away it lands on another. Errors name a URL by scheme, host and path only: user info and
 * query strings may carry credentials and never reach a message.
 */
import { MailboxError } from '../errors.ts';

/** Words for the socket errors a client meets when an instance is down. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

export class Endpoints {
  readonly urls: readonly string[];
  private cursor: number;
  /** Why each URL failed since the last connection: latest failure per URL, in the order tried. */
  private readonly failures = new Map<string, string>();

  /**
   * `start` (taken modulo the list's length) is where the first attempt begins; the client
   * passes a random index so that many clients given one list spread over the instances
   * instead of all landing on (and all failing over from) the first.
   */
  constructor(input: unknown, start: number) {
    this.urls = parseUrls(input);
    this.cursor = Math.abs(Math.floor(start)) % this.urls.length;
  }

  /** The URL of the next attempt; moves the cursor on (round robin). */
  next(): string {
    const url = this.urls[this.cursor]!;
    this.cursor = (this.cursor + 1) % this.urls.length;
    return url;
  }

  /** Records a failed attempt; returns the E_UNAVAILABLE that names this URL and why. */
  failed(url: string, err: unknown): MailboxError {
    const why = causeText(err);
    this.failures.delete(url); // re-inserted: the order stays the order tried
    this.failures.set(url, why);
    return new MailboxError('E_UNAVAILABLE', `cannot reach ${displayUrl(url)}: ${why}`, { cause: err });
  }

  /** A connection is up: earlier failures no longer describe the deployment. */
  reached(): void {
    this.failures.clear();
  }

  /**
   * `cannot reach ws://a:9410, ws://b:9410: connection refused` (one cause), or each URL with
   * its own cause; undefined when nothing failed since the last connection.
   */
  describeFailures(): string | undefined {
    if (this.failures.size === 0) return undefined;
    const entries = [...this.failures];
    const causes = new Set(entries.map(([, why]) => why));
    if (causes.size === 1) return `cannot reach ${entries.map(([url]) => displayUrl(url)).join(', ')}: ${entries[0]![1]}`;
    return `cannot reach ${entries.map(([url, why]) => `${displayUrl(url)} (${why})`).join(', ')}`;
  }
}

/**
 * One URL or a non-empty list of them, each a ws:// or wss:// URL; E_CONFIG naming the
 * offending entry otherwise. An entry that does not parse is named by its index alone: a
 * token passed by mistake in the URL's place must not be echoed.
 */
export function parseUrls(input: unknown): string[] {
  if (typeof input === 'string') return [checkedUrl(input, 'url')];
  if (!Array.isArray(input)) throw new MailboxError('E_CONFIG', `url: expected a ws:// or wss:// URL or a list of them, got ${describe(input)}`);
  if (input.length === 0) throw new MailboxError('E_CONFIG', 'urls: the list is empty; give at least one ws:// or wss:// URL');
  return input.map((entry: unknown, i) => {
    if (typeof entry !== 'string') throw new MailboxError('E_CONFIG', `urls[${i}]: expected a ws:// or wss:// URL, got ${describe(entry)}`);
    return checkedUrl(entry, `urls[${i}]`);
  });
}

function checkedUrl(raw: string, name: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new MailboxError('E_CONFIG', `${name}: not a URL (expected ws://host:port or wss://host:port)`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new MailboxError('E_CONFIG', `${name}: ${displayUrl(raw)} is not a ws:// or wss:// URL`);
  }
  if (parsed.hash !== '') throw new MailboxError('E_CONFIG', `${name}: ${displayUrl(raw)} has a #fragment, which a WebSocket URL cannot carry`);
  return raw;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** Scheme, host and path of a URL; user info, query and fragment left out (they may hold credentials). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/** What went wrong, in words: the socket error's errno (`connection refused`), else the innermost message. */
function causeText(err: unknown): string {
  let inner = err;
  for (let depth = 0; inner instanceof Error && depth < 5; depth++) {
    const code = (inner as { code?: unknown }).code;
    if (typeof code === 'string' && ERRNO_TEXT[code] !== undefined) return ERRNO_TEXT[code];
    if (!(inner.cause instanceof Error)) break;
    inner = inner.cause;
  }
  return inner instanceof Error ? inner.message : String(inner);
}
