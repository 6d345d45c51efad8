// Types of build-fresh.mjs, for the tests that call it.
export declare const STAMP: string;
export declare const BUILD_INPUTS: readonly string[];
export declare function fingerprint(root: string, files: readonly string[]): Record<string, [number, number]>;
export declare function staleReason(root: string, outdir: string): string | undefined;
export declare function buildIsFresh(root: string, outdir: string): boolean;
