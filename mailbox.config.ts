/**
 * The operator's configuration. Every value here equals the built-in default; change what your
 * deployment needs. Environment variables and flags override this file (docs/CONFIGURATION.md).
 * Loaded only when the CLI passes it or RON_CONFIG names it (never implicitly).
 */
import { defineConfig } from './src/config/config.ts';

export default defineConfig({
  // macronode: LevelDB under dataDir. micronode: RAM only, nothing written (same as amnesia: true).
  profile: 'macronode',
  amnesia: false,
  dataDir: './var/mailbox',
  // sync: a SEND is acked only after its group-commit batch is fsynced (survives power loss).
  durability: 'sync',
  // Bounds parallel work; topics are entries inside shards. Changing it remaps topics, so keep it stable.
  shards: 8,
  // Loopback by default: expose deliberately, behind TLS termination.
  listen: '127.0.0.1:9410',
  metricsAddr: '127.0.0.1:9600',
  logLevel: 'info',
  queue: {
    // A retried SEND with the same idempotency key within 5 min returns the first msgId.
    replayWindowMs: 300_000,
    // After 5 failed deliveries a message goes to the DLQ instead of looping forever.
    maxAttempts: 5,
    backoffBaseMs: 200,
    backoffMaxMs: 60_000,
    defaultVisibilityMs: 30_000,
    // 12 h: long enough for batch consumers, short enough that a lost lease comes back the same day.
    maxVisibilityMs: 12 * 3_600_000,
    // Bounded queues: beyond these SEND is refused (E_SATURATED), never silently dropped.
    shardCapacity: 1_000_000,
    maxInflight: 100_000,
    dedupCapacity: 1_000_000,
    // LevelDB keeps the backlog on disk; RAM holds these windows (bounded by configuration, not depth).
    readyWindow: 2_048,
    residentBudget: 4_096,
    dedupResident: 8_192,
    hotPayloadBytes: 4 * 1024 * 1024,
    // 1 MiB frame minus 1 KiB for the OAP/1 header and body envelope.
    maxPayloadBytes: 1024 * 1024 - 1024,
    // Reprocessing the DLQ must not flood consumers that just recovered.
    reprocessPerSecond: 1_000,
  },
  // 0 turns per-tenant quotas off; set both when tenants share one mailbox.
  quota: { sendPerSecond: 0, burst: 0 },
  // More than 5 restarts in a minute means restarting does not help: escalate.
  supervision: { intensity: 5, periodMs: 60_000, restartBaseMs: 100, restartMaxMs: 30_000, resetAfterMs: 60_000 },
  auth: {
    // Empty: a key is created under dataDir on first start. Put real secrets in the environment, not here.
    keys: {},
    activeKid: 'k1',
    capCacheTtlMs: 30_000,
    // '' means <dataDir>/admin.token (mode 0600).
    adminTokenFile: '',
  },
  drainTimeoutMs: 10_000,
  // Sustained event-loop lag this long (p99, 3 s in a row) sheds writes until it clears.
  overloadLagMs: 1_000,
  retention: { readyMs: 7 * 86_400_000, dlqMs: 14 * 86_400_000 },
});
