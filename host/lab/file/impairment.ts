// Impairment settings in a lab file: netem's words with units (units.ts), on
// a NIC (both ways, or `send`/`receive` as the VM sees it) or on a link (both
// ways, or `A->B`/`B->A` by the sending switch). An impairment that changes
// nothing normalises to null.
import type { Field, Reader } from './reader.ts';
import type { Impairment, NicImpairment } from './schema.ts';
import { parseDurationMs, parsePercent, parseRateBits } from './units.ts';

const FIELDS = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'rate', 'limit', 'down'] as const;
const MAX_DELAY_MS = 60_000;
const MAX_RATE_BITS = 100e9;
/** netem's default queue length. */
export const DEFAULT_LIMIT_FRAMES = 1000;
const MAX_LIMIT_FRAMES = 100_000;

export const NO_IMPAIRMENT: Impairment = {
  delayMs: 0,
  jitterMs: 0,
  lossPercent: 0,
  duplicatePercent: 0,
  reorderPercent: 0,
  rateBitsPerSecond: 0,
  limitFrames: DEFAULT_LIMIT_FRAMES,
  down: false,
};

function isNone(impairment: Impairment): boolean {
  return (Object.keys(NO_IMPAIRMENT) as (keyof Impairment)[]).every((key) => impairment[key] === NO_IMPAIRMENT[key]);
}

/** One direction's settings; null when they change nothing, undefined after reporting a problem. */
export function readImpairment(r: Reader, at: Field): Impairment | null | undefined {
  const f = r.fields(at, FIELDS);
  if (!f) return undefined;
  const out: Impairment = { ...NO_IMPAIRMENT };
  let ok = true;
  const unit = (field: Field, parse: (value: string | number) => number | string): number | undefined => {
    if (!r.present(field)) return undefined;
    const value = r.scalar(field, 'a value with a unit');
    if (value === undefined) return (ok = false), undefined;
    const parsed = typeof value === 'boolean' ? `expected a value with a unit, found ${value}` : parse(value);
    if (typeof parsed === 'string') {
      r.error(field, 'bad-value', parsed);
      return (ok = false), undefined;
    }
    return parsed;
  };
  out.delayMs = unit(f.delay, (v) => parseDurationMs(v, MAX_DELAY_MS)) ?? 0;
  out.jitterMs = unit(f.jitter, (v) => parseDurationMs(v, MAX_DELAY_MS)) ?? 0;
  out.lossPercent = unit(f.loss, parsePercent) ?? 0;
  out.duplicatePercent = unit(f.duplicate, parsePercent) ?? 0;
  out.reorderPercent = unit(f.reorder, parsePercent) ?? 0;
  out.rateBitsPerSecond = unit(f.rate, (v) => parseRateBits(v, MAX_RATE_BITS)) ?? 0;
  if (r.present(f.limit)) {
    const limit = r.int(f.limit, 1, MAX_LIMIT_FRAMES, 'a frame count');
    if (limit === undefined) ok = false;
    else out.limitFrames = limit;
  }
  if (r.present(f.down)) {
    const down = r.bool(f.down);
    if (down === undefined) ok = false;
    else out.down = down;
  }
  // netem's jitter varies a delay and its reorder sends some frames ahead of delayed ones: both need a delay.
  const delayMissing = !r.present(f.delay);
  if (out.jitterMs > 0 && delayMissing) {
    r.error(f.jitter, 'bad-value', 'jitter needs a delay to vary');
    ok = false;
  }
  if (out.reorderPercent > 0 && delayMissing) {
    r.error(f.reorder, 'bad-value', 'reorder needs a delay (reordered frames skip it)');
    ok = false;
  }
  if (!ok) return undefined;
  if (out.delayMs === 0 && (out.jitterMs > 0 || out.reorderPercent > 0)) {
    r.error(f.delay, 'bad-value', 'a zero delay leaves nothing for jitter or reorder to act on');
    return undefined;
  }
  return isNone(out) ? null : out;
}

/** A NIC's impairment: one mapping for both directions, or `send`/`receive`. */
export function readNicImpairment(r: Reader, at: Field): NicImpairment | undefined {
  const keys = r.keys(at);
  if (keys.includes('send') || keys.includes('receive')) {
    const f = r.fields(at, ['send', 'receive'] as const);
    if (!f) return undefined;
    const send = r.present(f.send) ? readImpairment(r, f.send) : null;
    const receive = r.present(f.receive) ? readImpairment(r, f.receive) : null;
    return send === undefined || receive === undefined ? undefined : { send, receive };
  }
  const both = readImpairment(r, at);
  return both === undefined ? undefined : { send: both, receive: both === null ? null : { ...both } };
}

/** A link's impairment as [what end a sends, what end b sends]: both ways, or `a->b`/`b->a`. */
export function readLinkImpairment(r: Reader, at: Field, a: string, b: string): [Impairment | null, Impairment | null] | undefined {
  const keys = r.keys(at);
  if (keys.some((key) => key.includes('->'))) {
    const f = r.fields(at, [`${a}->${b}`, `${b}->${a}`]);
    if (!f) return undefined;
    const forward = r.present(f[`${a}->${b}`]) ? readImpairment(r, f[`${a}->${b}`]) : null;
    const backward = r.present(f[`${b}->${a}`]) ? readImpairment(r, f[`${b}->${a}`]) : null;
    return forward === undefined || backward === undefined ? undefined : [forward, backward];
  }
  const both = readImpairment(r, at);
  return both === undefined ? undefined : [both, both === null ? null : { ...both }];
}

/**
 * One direction's impairment from the command line's short form,
 * `delay=50ms,jitter=5ms,loss=5%,rate=1mbit,limit=100,down=true` (`none`
 * clears). Returns the impairment (null: none) or why not.
 */
export function parseImpairmentSpec(text: string): Impairment | null | string {
  if (text === 'none') return null;
  const out: Impairment = { ...NO_IMPAIRMENT };
  const seen = new Set<string>();
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : pair;
    const value = eq > 0 ? pair.slice(eq + 1) : '';
    if (!(FIELDS as readonly string[]).includes(key)) return `unknown impairment '${key}' (expected ${FIELDS.join(', ')}, or none)`;
    if (eq <= 0 || !value) return `${key} needs a value (${key}=...)`;
    if (seen.has(key)) return `${key} is given twice`;
    seen.add(key);
    let parsed: number | string | boolean;
    switch (key as (typeof FIELDS)[number]) {
      case 'delay':
      case 'jitter':
        parsed = parseDurationMs(value, MAX_DELAY_MS);
        break;
      case 'loss':
      case 'duplicate':
      case 'reorder':
        parsed = parsePercent(value);
        break;
      case 'rate':
        parsed = parseRateBits(value, MAX_RATE_BITS);
        break;
      case 'limit':
        parsed = /^[0-9]{1,6}$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_LIMIT_FRAMES ? Number(value) : `limit must be a frame count 1..${MAX_LIMIT_FRAMES}, not '${value}'`;
        break;
      case 'down':
        parsed = value === 'true' ? true : value === 'false' ? false : `down is true or false, not '${value}'`;
        break;
    }
    if (typeof parsed === 'string') return parsed;
    const field = ({ delay: 'delayMs', jitter: 'jitterMs', loss: 'lossPercent', duplicate: 'duplicatePercent', reorder: 'reorderPercent', rate: 'rateBitsPerSecond', limit: 'limitFrames', down: 'down' } as const)[key as (typeof FIELDS)[number]];
    (out as unknown as Record<string, number | boolean>)[field] = parsed;
  }
  if ((out.jitterMs > 0 || out.reorderPercent > 0) && out.delayMs === 0) return 'jitter and reorder need a delay';
  return isNone(out) ? null : out;
}
