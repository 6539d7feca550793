// Bundled in place of node:perf_hooks for the browser: the same clock.
export const performance = globalThis.performance;
