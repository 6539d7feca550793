// LabPlan -> a lab file document (plain data; JSON.stringify or yaml's
// stringify makes the text). Parsing what this writes gives the same plan:
// the fuzz target checks that, and the graph and web pages can show a plan
// in the words of the file.
import type { Impairment, LabPlan, NicImpairment, PortRef } from './schema.ts';
import { NO_IMPAIRMENT } from './impairment.ts';
import { formatDuration, formatPercent, formatRate } from './units.ts';
import { uplinkDoc } from './uplinks.ts';

type Doc = Record<string, unknown>;

function impairmentDoc(impairment: Impairment): Doc {
  const out: Doc = {};
  if (impairment.delayMs) out.delay = formatDuration(impairment.delayMs);
  if (impairment.jitterMs) out.jitter = formatDuration(impairment.jitterMs);
  if (impairment.lossPercent) out.loss = formatPercent(impairment.lossPercent);
  if (impairment.duplicatePercent) out.duplicate = formatPercent(impairment.duplicatePercent);
  if (impairment.reorderPercent) out.reorder = formatPercent(impairment.reorderPercent);
  if (impairment.rateBitsPerSecond) out.rate = formatRate(impairment.rateBitsPerSecond);
  if (impairment.limitFrames !== NO_IMPAIRMENT.limitFrames) out.limit = impairment.limitFrames;
  if (impairment.down) out.down = true;
  return out;
}

function nicImpairmentDoc(impairment: NicImpairment): Doc | undefined {
  if (!impairment.send && !impairment.receive) return undefined;
  const out: Doc = {};
  if (impairment.send) out.send = impairmentDoc(impairment.send);
  if (impairment.receive) out.receive = impairmentDoc(impairment.receive);
  return out;
}

function refText(ref: PortRef): string {
  return ref.kind === 'nic' ? `${ref.vm}.${ref.nic}` : ref.link;
}

/** Drops undefined fields (JSON would, yaml would write null). */
function compact(doc: Doc): Doc {
  for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
  return doc;
}

export function planToDocument(plan: LabPlan): Doc {
  const switches: Doc = {};
  for (const s of plan.switches) {
    switches[s.name] = compact({
      capture: s.capture ? { ...s.capture, file: s.capture.file ?? undefined, ports: s.capture.ports?.map(refText) } : undefined,
      acl: s.acl ? { defaultAction: s.acl.defaultAction, rules: s.acl.rules.map((rule) => compact({ ...rule, from: rule.from?.map(refText) })) } : undefined,
      mirror: s.mirror.length
        ? s.mirror.map((m) =>
            compact({ name: m.name, from: m.from.length ? m.from.map(refText) : undefined, toward: m.toward.length ? m.toward.map(refText) : undefined, vlans: m.vlans.length ? m.vlans : undefined, to: refText(m.to) }),
          )
        : undefined,
      macLearning: s.macLearning,
      uplinks: s.uplinks.length ? s.uplinks.map(uplinkDoc) : undefined,
      dhcp: s.dhcp
        ? compact({
            server: `${s.dhcp.serverIp}/${s.dhcp.subnet.split('/')[1]}`,
            gateway: s.dhcp.gateway ?? undefined,
            dns: s.dhcp.dns.length ? s.dhcp.dns : undefined,
            leaseSeconds: s.dhcp.leaseSeconds ?? undefined,
            pool: s.dhcp.pool ?? undefined,
          })
        : undefined,
      guards: s.guards,
    });
  }
  const vms: Doc = {};
  for (const vm of plan.vms) {
    vms[vm.name] = compact({
      memory: vm.memoryMiB,
      hostname: vm.hostname,
      forwarding: vm.forwarding,
      nics: vm.nics.map((nic) =>
        compact({ model: nic.model, switch: nic.switch, mac: nic.mac ?? undefined, addresses: nic.addresses, vlan: nic.vlan ?? undefined, impairment: nicImpairmentDoc(nic.impairment), dhcp: nic.dhcp, allow: nic.allow }),
      ),
      gateway: vm.gateway ?? undefined,
      gateway6: vm.gateway6 ?? undefined,
      routes: vm.routes,
      commands: vm.commands,
    });
  }
  const links: Doc = {};
  for (const link of plan.links) {
    const [a, b] = link.ends;
    const impairment: Doc = {};
    if (a.send) impairment[`${a.switch}->${b.switch}`] = impairmentDoc(a.send);
    if (b.send) impairment[`${b.switch}->${a.switch}`] = impairmentDoc(b.send);
    links[link.name] = compact({ between: [a.switch, b.switch], trunk: link.trunk ?? undefined, impairment: a.send || b.send ? impairment : undefined });
  }
  return compact({ name: plan.name ?? undefined, switches, vms, links: plan.links.length ? links : undefined });
}
