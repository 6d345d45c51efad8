/**
 * A supervised child for parts that are not actors (store holder, bus, listeners): it runs
 * until stopped or killed, and reports a kill as a crash like any actor would.
 */
import type { Child, ChildDescription, ChildExit } from '../../supervisors/child.ts';

export function plainChild(describe: () => ChildDescription, onStop: () => Promise<void> | void = () => {}): Child {
  let exit: ChildExit | undefined;
  let listener: ((exit: ChildExit) => void) | undefined;
  const end = (value: ChildExit): void => {
    if (exit) return;
    exit = value;
    listener?.(value);
  };
  return {
    onExit(cb) {
      listener = cb;
      if (exit) cb(exit);
    },
    async stop() {
      if (exit) return;
      await onStop();
      end({ kind: 'normal' });
    },
    kill(reason) {
      end({ kind: 'crash', reason });
    },
    describe,
  };
}
