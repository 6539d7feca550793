// One figure of `npm run bench`. A group module `bench/<group>.ts` exports
// `run(): Promise<BenchEntry[]>`; scripts/bench.ts prints and merges them into
// bench/results.json.
export interface BenchEntry {
  name: string;
  value: number;
  unit: string;
  /** Name of the entry measured in the same run that this one is compared with. */
  baseline?: string;
  /** value / baseline value. */
  ratio?: number;
}

export type BenchGroup = () => Promise<BenchEntry[]>;
