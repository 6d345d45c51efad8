/**
 * What a bind address exposes. Both ports default to loopback; bound anywhere else, the
 * start-up log says what other hosts can now reach, and the admin port's /debug endpoints
 * start asking for an admin token (see docs/OPERATIONS.md, Exposure).
 */
import type { Logger } from '../observability/logger.ts';

/** 127.0.0.0/8 and `localhost`: only this machine can connect. `0.0.0.0`, a LAN address or a host name cannot be assumed so. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Warns (once per bind) when the OAP/1 listener is reachable from other hosts. */
export function warnIfListenerExposed(logger: Logger, host: string, addr: string, maxConnections: number, helloTimeoutMs: number): void {
  if (isLoopbackHost(host)) return;
  logger.warn(
    { event: 'listener_exposed', addr, maxConnections, helloTimeoutMs },
    `OAP/1 listener ws://${addr} is not on loopback: other hosts can open up to ${maxConnections} connections and send HELLO and PING without a token ` +
      `(every other operation needs a capability token); traffic is not encrypted, put a TLS proxy in front`,
  );
}

/** Warns when the admin port is reachable from other hosts, naming what answers without a token. */
export function warnIfAdminExposed(logger: Logger, host: string, addr: string): void {
  if (isLoopbackHost(host)) return;
  logger.warn(
    { event: 'admin_exposed', addr },
    `admin port http://${addr} is not on loopback: /healthz, /readyz and /metrics answer anyone who can connect (metrics show topic classes and load); ` +
      `/debug/tree, /debug/events and /admin/backup need an admin token (Authorization: Bearer)`,
  );
}
