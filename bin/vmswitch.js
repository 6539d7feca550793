#!/usr/bin/env node
// The CLI's entry: the compiled JavaScript when present (dist/, what the
// package ships), else the TypeScript sources through tsx (a checkout: tsx is
// a devDependency, so no build step is needed while developing).
import { existsSync } from 'node:fs';

// `vmswitch image info | head`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
