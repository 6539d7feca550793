// The OID plumbing under the switch's port and NIC calls (what the SxBase
// sample's base library does for a Windows extension): OIDs on one port run
// one at a time, each goes down the extension stack and completes back up with
// vetoes and undo, and deletes wait (bounded) for references to drain. Knows
// ports, NICs and the stack; the switch says what each OID does to them.
import type { Emitter, OidEvent, SwitchEvents } from './events.ts';
import type { OidRequest, OidStatus } from './oid.ts';
import { OidError, VETOABLE_OIDS } from './oid.ts';
import type { SwitchCounters } from './counters.ts';
import { bump } from './counters.ts';
import type { ExtensionStack } from './stack.ts';
import type { Extension } from './extension.ts';
import type { Port } from './port.ts';
import type { Nic } from './nic.ts';
import { errorMessage } from './errors.ts';

/** What the OID engine needs from the switch. */
export interface OidEngineHost {
  readonly now: () => number;
  readonly events: Emitter<SwitchEvents>;
  readonly counters: SwitchCounters;
  readonly stack: ExtensionStack;
  findPort(portId: number): Port | undefined;
  extensionError(extension: Extension, phase: string, error: unknown): void;
}

/**
 * The miniport edge of a set OID (the switch itself), run once every extension
 * passed the OID on: it applies the change and returns null, or returns why it
 * fails the OID (the extensions then see the failure on completion).
 */
export type ApplyOid = () => string | null;

export class OidEngine {
  /** Per port: the tail of its OID queue. */
  private readonly queues = new Map<number, Promise<unknown>>();

  constructor(private readonly host: OidEngineHost) {}

  /**
   * Runs `fn` after every earlier call for the same port has settled, so OIDs
   * on one port run one at a time in call order. While queued and running it
   * holds a reference on the port (and counts as a pending OID on `nic`), which
   * PORT_DELETE and NIC_DELETE wait for.
   *
   * WARNING: not re-entrant. `fn` must never await (directly or through an
   * extension callback, e.g. an extension holding the Switch) another serial()
   * call for the same port: that call is queued behind `fn` itself, so both wait
   * for ever (no error, no timeout). Run the steps in one `fn` instead (as
   * saveNic does with NIC_SAVE and NIC_SAVE_COMPLETE) or call after `fn`.
   * Re-entry is not detected: without async context tracking (AsyncLocalStorage
   * is Node-only, the switch also runs in a browser) a nested call looks the
   * same as a concurrent caller that rightly queues, and a call an extension
   * starts without awaiting it is legitimate.
   */
  serial<T>(portId: number, nic: Nic | null, fn: () => Promise<T>): Promise<T> {
    const port = this.host.findPort(portId);
    port?.reference();
    if (nic) nic.pendingOids++;
    const previous = this.queues.get(portId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const done = run.finally(() => {
      if (nic) {
        nic.pendingOids--;
        nic.checkDrained();
      }
      port?.release();
    });
    this.queues.set(
      portId,
      done.catch(() => undefined),
    );
    return done;
  }

  /** Drops a deleted port's queue (a new port may reuse the id). */
  forgetPort(portId: number): void {
    this.queues.delete(portId);
  }

  /**
   * Runs one set OID down the stack and back up, then emits its 'oid' event.
   * Rejects with an OidError when an extension vetoed it (vetoable OIDs only),
   * threw on a vetoable OID, or `apply` failed it.
   */
  async run(request: OidRequest, portId: number, nicIndex: number | undefined, apply: ApplyOid): Promise<OidEvent> {
    const { stack, counters, events } = this.host;
    const ordered = stack.ordered;
    const vetoable = VETOABLE_OIDS.has(request.oid);
    let status: OidStatus = 'success';
    let vetoedBy: string | undefined;
    let detail: string | undefined;
    const errors: { extension: string; message: string }[] = [];
    let passed = 0;
    for (; passed < ordered.length; passed++) {
      const extension = ordered[passed]!;
      if (!extension.oidRequest) continue;
      let reply: unknown;
      try {
        reply = await extension.oidRequest(request);
      } catch (error) {
        this.host.extensionError(extension, 'oid', error);
        if (vetoable) {
          status = 'failed';
          vetoedBy = extension.name;
          detail = `extension threw: ${errorMessage(error)}`;
          break;
        }
        errors.push({ extension: extension.name, message: errorMessage(error) });
        continue;
      }
      if (reply && typeof reply === 'object' && 'veto' in reply) {
        const reason = String((reply as { veto: unknown }).veto);
        if (vetoable) {
          status = 'vetoed';
          vetoedBy = extension.name;
          detail = reason;
          break;
        }
        errors.push({ extension: extension.name, message: `veto not allowed for ${request.oid}: ${reason}` });
        bump(counters.extensionErrors, extension.name);
      }
    }
    if (status === 'success') {
      const failure = apply();
      if (failure !== null) {
        status = 'failed';
        vetoedBy = 'switch';
        detail = failure;
      }
    }
    // Completion back up: every extension that passed the OID on learns the outcome (and undoes on failure).
    for (let i = Math.min(passed, ordered.length) - 1; i >= 0; i--) {
      const extension = ordered[i]!;
      if (!extension.oidComplete) continue;
      try {
        extension.oidComplete(request, status);
      } catch (error) {
        this.host.extensionError(extension, 'oidComplete', error);
        errors.push({ extension: extension.name, message: errorMessage(error) });
      }
    }
    const event: OidEvent = { time: this.host.now(), oid: request.oid, portId, status };
    if (nicIndex !== undefined) event.nicIndex = nicIndex;
    if (vetoedBy !== undefined) event.vetoedBy = vetoedBy;
    if (detail !== undefined) event.detail = detail;
    if (errors.length) event.errors = errors;
    events.emit('oid', event);
    if (status !== 'success') throw new OidError(request.oid, status, vetoedBy, detail);
    return event;
  }

  /**
   * Waits until `references()` is 0 (`drained` resolves then), at most
   * `timeoutMs`; on timeout emits a 'timeout' event and returns anyway, so a
   * delete never hangs on a stuck reference.
   */
  async waitDrained(
    wait: 'nic-drain' | 'port-drain',
    drained: Promise<void>,
    references: () => number,
    portId: number,
    nicIndex: number | undefined,
    timeoutMs: number,
  ): Promise<void> {
    if (references() === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const late = await Promise.race([drained.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.host.events.emit('timeout', {
        time: this.host.now(),
        wait,
        portId,
        ...(nicIndex !== undefined ? { nicIndex } : {}),
        references: references(),
        timeoutMs,
      });
    }
  }
}
