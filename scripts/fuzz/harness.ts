// The fuzzing harness: a seeded generator and the shape of a fuzz target.
// Targets live beside the code they attack, in `*.fuzz.ts` files that export
// `targets: FuzzTarget[]`; `npm run fuzz` runs them for as long as asked and
// `scripts/fuzz/fuzz.test.ts` runs each for its bounded `quick` count inside
// `npm test`. A target throws (or rejects) when an invariant breaks; the
// harness reports the seed and iteration so the case can be replayed.

/** A small, fast, seeded generator (mulberry32): the same seed gives the same cases everywhere. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly random 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [min, max], both included. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /**
   * A value a hostile guest or peer likes: boundaries (0, 1, powers of two
   * and their neighbours, all-ones) more often than uniform noise.
   */
  edgy(bits = 32): number {
    const max = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
    switch (this.int(6)) {
      case 0:
        return this.pick([0, 1, 2, 3, 4, max, max - 1]) >>> 0;
      case 1: {
        const p = 2 ** this.int(bits);
        return (p + this.pick([-1, 0, 1])) % (max + 1) >>> 0;
      }
      case 2:
        return this.int(64);
      default:
        return (bits >= 32 ? this.u32() : this.u32() % (max + 1)) >>> 0;
    }
  }
}

export interface FuzzTarget {
  /** Unique across the tree, e.g. 'e1000.registers'. */
  readonly name: string;
  /** Iterations inside `npm test` (keep the target's share of the unit run to a few seconds). */
  readonly quick: number;
  /**
   * One case. Throw (or reject) when an invariant breaks. `iteration` is
   * informational; all randomness must come from `rng` so a failure replays
   * from its seed.
   */
  run(rng: Rng, iteration: number): void | Promise<void>;
}

export interface FuzzFailure {
  target: string;
  seed: number;
  iteration: number;
  error: unknown;
}

export interface FuzzResult {
  target: string;
  iterations: number;
  failures: FuzzFailure[];
  ms: number;
}

/** The seed of one iteration: every case can be replayed alone with `--seed S --iterations 1`. */
export function caseSeed(seed: number, iteration: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(iteration + 1, 0xc2b2ae35)) >>> 0;
}

/** Runs `iterations` cases of a target; stops after `maxFailures` failures. */
export async function runTarget(target: FuzzTarget, options: { seed: number; iterations: number; maxFailures?: number }): Promise<FuzzResult> {
  const failures: FuzzFailure[] = [];
  const maxFailures = options.maxFailures ?? 5;
  const start = performance.now();
  let i = 0;
  for (; i < options.iterations && failures.length < maxFailures; i++) {
    const seed = caseSeed(options.seed, i);
    try {
      await target.run(new Rng(seed), i);
    } catch (error) {
      failures.push({ target: target.name, seed, iteration: i, error });
    }
  }
  return { target: target.name, iterations: i, failures, ms: performance.now() - start };
}
