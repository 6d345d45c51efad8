/**
 * The policy in force and its file: loaded at start (a bad file fails the start), reloaded
 * on demand (SIGHUP, `mailbox policy reload`) as one swap, or kept as it was when the new file
 * is bad — with the reason logged, counted and published. Every change is logged as a diff
 * with who asked (the admin token's KID, or the signal).
 */
import { readFile } from 'node:fs/promises';
import { activePresets, EMPTY_POLICY, parsePolicy, policyDiff, type Policy, type PolicyProblem } from '../domain/policy.ts';
import { MailboxError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export interface PolicyHolderDeps {
  logger: Logger;
  wall(): number;
  /** The policy took effect (`changes` may be empty when the file said the same). */
  applied(policy: Policy, changes: string[], by: string): void;
  /** A reload was refused; the cached policy stays. */
  refused(reason: string, by: string): void;
}

export type ReloadResult = { ok: true; changes: string[] } | { ok: false; reason: string; problems: PolicyProblem[] };

export interface PolicyReport {
  file: string | null;
  loadedAt: string | null;
  policy: Policy;
  presets: Array<{ name: string; scale: number; leftMs: number }>;
}

export class PolicyHolder {
  private policy: Policy;
  private loadedAt: number | undefined;

  /** `file` empty: no policy file; `fallback` (from `quota.*`) is the policy. */
  constructor(private readonly file: string, fallback: Policy, private readonly deps: PolicyHolderDeps) {
    this.policy = file ? EMPTY_POLICY : fallback;
  }

  get current(): Policy {
    return this.policy;
  }

  /** The first load: a policy file that cannot be read or is invalid fails the start. */
  async load(): Promise<void> {
    if (!this.file) return;
    const result = await this.read();
    if (!result.ok) throw new MailboxError('E_CONFIG', `policy file ${this.file}: ${result.reason}`);
    this.policy = result.policy;
    this.loadedAt = this.deps.wall();
    this.deps.applied(this.policy, [], 'start');
  }

  /** Reads the file again and swaps the policy in one step, or keeps the cached one and says why. */
  async reload(by: string): Promise<ReloadResult> {
    if (!this.file) {
      const reason = 'no policyFile is configured';
      this.deps.refused(reason, by);
      return { ok: false, reason, problems: [] };
    }
    const result = await this.read();
    if (!result.ok) {
      this.deps.refused(result.reason, by);
      return { ok: false, reason: result.reason, problems: result.problems };
    }
    const changes = policyDiff(this.policy, result.policy);
    this.policy = result.policy;
    this.loadedAt = this.deps.wall();
    this.deps.applied(this.policy, changes, by);
    return { ok: true, changes };
  }

  report(): PolicyReport {
    return {
      file: this.file || null,
      loadedAt: this.loadedAt === undefined ? null : new Date(this.loadedAt).toISOString(),
      policy: this.policy,
      presets: activePresets(this.policy, this.deps.wall()),
    };
  }

  private async read(): Promise<{ ok: true; policy: Policy } | { ok: false; reason: string; problems: PolicyProblem[] }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return { ok: false, reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, problems: [] };
    }
    const parsed = parsePolicy(text, this.deps.wall());
    if (parsed.ok) return parsed;
    return { ok: false, reason: describeProblems(parsed.problems), problems: parsed.problems };
  }
}

/** `line 4, tenants.x: must be …; line 7, …` */
export function describeProblems(problems: readonly PolicyProblem[]): string {
  return problems.map((p) => `${p.line === undefined ? '' : `line ${p.line}, `}${p.key}: ${p.message}`).join('; ');
}
