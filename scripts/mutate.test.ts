// The mutation list stays applicable: a search string that no longer occurs
// exactly once (the code moved) fails here, in the unit suite, rather than
// months later when someone runs `npm run mutate`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMutation } from './mutate.ts';
import { MUTATIONS, type Mutation } from './mutations.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

test('every mutation applies to the code as it is, once, and names test files that exist', () => {
  assert.equal(new Set(MUTATIONS.map((m) => m.name)).size, MUTATIONS.length, 'names are unique');
  for (const m of MUTATIONS) {
    const text = readFileSync(join(root, m.file), 'utf8');
    assert.notEqual(applyMutation(text, m), text, m.name);
    assert.ok(m.tests.length > 0, `${m.name} names its tests`);
    for (const file of m.tests) assert.ok(existsSync(join(root, file)), `${m.name}: ${file} exists`);
  }
});

test('a search string found twice or not at all is refused, naming the mutation', () => {
  const mutation = (search: string): Mutation => ({ name: 'm', description: '', file: 'f.ts', edits: [{ search, replace: 'y' }], tests: [] });
  assert.equal(applyMutation('a x b', mutation('x')), 'a y b');
  assert.throws(() => applyMutation('a x b x', mutation('x')), /^MutationListError: m: "x" occurs 2 times in f\.ts/);
  assert.throws(() => applyMutation('a b', mutation('x')), /occurs 0 times/);
  // `$&` in a replacement is text, not a pattern.
  assert.equal(applyMutation('a x b', { ...mutation('x'), edits: [{ search: 'x', replace: '$&$&' }] }), 'a $&$& b');
});
