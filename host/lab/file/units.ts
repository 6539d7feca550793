// The units of impairment values, as tc/netem writes them: durations
// (`50ms`, `1.5s`, `250us`), percentages (`5%`, `0.1%`) and rates (`1mbit`,
// `512kbit`; SI multipliers as tc). Each parser returns the value or why not.

/** Microseconds per unit: durations are kept to the microsecond so that they write back exactly. */
const DURATION_UNITS: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000 };
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
/** Plain decimal: no exponents, signs, hex or Infinity. */
const DECIMAL = /^(\d{1,12}(?:\.\d{1,9})?)/;

/** `50ms` -> 50; the number 0 (or `0`) needs no unit. */
export function parseDurationMs(value: string | number, maxMs: number): number | string {
  if (value === 0 || value === '0') return 0;
  if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(value)) return `${value} needs a unit: write ${value}ms (us, ms or s)`;
  const m = DECIMAL.exec(value);
  const unit = m ? value.slice(m[1]!.length) : '';
  const scale = DURATION_UNITS[unit];
  if (!m || scale === undefined) return `'${value}' is not a duration (e.g. 50ms, 1.5s, 250us)`;
  const ms = Math.round(Number(m[1]) * scale) / 1000;
  if (ms > maxMs) return `'${value}' is longer than ${maxMs / 1000}s`;
  return ms;
}

/** `5%` -> 5; 0..100. */
export function parsePercent(value: string | number): number | string {
  if (value === 0 || value === '0') return 0;
  if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(value)) return `${value} needs a % sign: write ${value}%`;
  const m = DECIMAL.exec(value);
  if (!m || value.slice(m[1]!.length) !== '%') return `'${value}' is not a percentage (e.g. 5%, 0.1%)`;
  // Kept to a millionth of a percent, which JavaScript still prints without an exponent.
  const percent = Math.round(Number(m[1]) * 1e6) / 1e6;
  if (percent > 100) return `'${value}' is more than 100%`;
  return percent;
}

/** `1mbit` -> 1e6 bits per second; 0 means unlimited. */
export function parseRateBits(value: string | number, maxBits: number): number | string {
  if (value === 0 || value === '0') return 0;
  if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(value)) return `${value} needs a unit: write ${value}kbit (bit, kbit, mbit or gbit)`;
  const m = DECIMAL.exec(value);
  const unit = m ? value.slice(m[1]!.length).toLowerCase() : '';
  if (/^[kmg]?bps$/.test(unit)) return `'${value}': tc's '${unit}' means bytes per second; write bits (e.g. 1mbit)`;
  const scale = RATE_UNITS[unit];
  if (!m || scale === undefined) return `'${value}' is not a rate (e.g. 1mbit, 512kbit)`;
  const bits = Math.round(Number(m[1]) * scale);
  if (bits < 8) return `'${value}' is below 8 bit/s (one byte a second)`;
  if (bits > maxBits) return `'${value}' is more than ${maxBits / 1e9}gbit`;
  return bits;
}

/** Inverses for writing a plan back as a file. */
export function formatDuration(ms: number): string {
  return `${Math.round(ms * 1000)}us`;
}

export function formatPercent(percent: number): string {
  return `${percent}%`;
}

export function formatRate(bits: number): string {
  return `${bits}bit`;
}
