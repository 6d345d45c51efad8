// Types of build-if-stale.mjs (no exports: importing it rebuilds a stale dist/).
export {};
