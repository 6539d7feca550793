// Lab files: the format (schema.ts), the parser and validator (parse.ts), and
// the plan they produce for a runner.
export { parseLabFile } from './parse.ts';
export type { ParseLabFileOptions } from './parse.ts';
export { LabFileError, MAX_ISSUES, formatIssue } from './errors.ts';
export type { LabFileIssue, LabFileIssueCode } from './errors.ts';
export { LIMITS, LINK_PORT_TYPE, DEFAULT_MEMORY_MIB } from './schema.ts';
export type { LabPlan, PlanSwitch, PlanVm, PlanNic, PlanLink, PlanLinkEnd, PlanRoute, PlanAcl, PlanAclRule, PlanMirrorSession, PlanCapture, PortRef, Impairment, NicImpairment } from './schema.ts';
export { planToDocument } from './write.ts';
export { parseImpairmentSpec, NO_IMPAIRMENT } from './impairment.ts';
