/**
 * The consumer session actor: one per WebSocket connection or embedded handle. It holds the
 * connection's own state — its push subscriptions — and ends in a final state when the
 * session closes (a clean exit). A crash ends it too; sessions are temporary children, so
 * either way the runtime releases its leases at once and the connection goes away.
 */
import { assign, setup } from 'xstate';
import type { SessionId, TenantId, Topic } from '../src/domain/types.ts';

export interface SubscriptionRecord {
  subId: string;
  tenant: TenantId;
  topic: Topic;
  visibilityMs: number;
  prefetch: number;
}

export interface SessionContext {
  id: SessionId;
  subscriptions: ReadonlyMap<string, SubscriptionRecord>;
}

export type SessionEvent =
  | { type: 'SUBSCRIBE'; sub: SubscriptionRecord }
  | { type: 'UNSUBSCRIBE'; subId: string }
  /** CREDIT widened the subscription's window to `prefetch`. */
  | { type: 'CREDIT'; subId: string; prefetch: number }
  | { type: 'CLOSE' };

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as { id: SessionId },
  },
}).createMachine({
  id: 'session',
  initial: 'open',
  context: ({ input }) => ({ id: input.id, subscriptions: new Map() }),
  states: {
    open: {
      on: {
        SUBSCRIBE: {
          actions: assign({
            subscriptions: ({ context, event }) => new Map(context.subscriptions).set(event.sub.subId, event.sub),
          }),
        },
        UNSUBSCRIBE: {
          actions: assign({
            subscriptions: ({ context, event }) => {
              const next = new Map(context.subscriptions);
              next.delete(event.subId);
              return next;
            },
          }),
        },
        CREDIT: {
          actions: assign({
            subscriptions: ({ context, event }) => {
              const sub = context.subscriptions.get(event.subId);
              return sub ? new Map(context.subscriptions).set(event.subId, { ...sub, prefetch: event.prefetch }) : context.subscriptions;
            },
          }),
        },
        CLOSE: 'closed',
      },
    },
    closed: { type: 'final' },
  },
});
