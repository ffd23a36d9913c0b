/**
 * What the report's page reads (report-data.js, report-data.json): the run, its aggregates and
 * its review queues' cards.
 */
import type { AuditSummary } from './audit-panel';
import type { Aggregates, RiskCoverage } from './collect';
import type { QueueId } from './queues';
import type { CardImages } from './tiles';

export interface Card {
  key: string;
  image: string;
  label: string | null;
  labelClass: number | null;
  pred: string | null;
  predIndex: number | null;
  top: { class: string; p: number }[];
  status: string;
  error: string | null;
  accepted: boolean | null;
  rank: number;
  scores: Record<string, number | null>;
  mask_fraction: number | null;
  /** the image's own problems, and its duplicate group (null: no copy) */
  imageIssues: string[];
  duplicateGroup: string | null;
  img: CardImages;
}

export interface ReportQueue {
  id: QueueId;
  title: string;
  description: string;
  rankName: string;
  /** every member of the queue in the run, and the listed ones (the best perQueue) */
  total: number;
  cards: Card[];
  exports: { csv: string; jsonl: string; labelStudio: string };
  reasons?: Record<string, number>;
}

export interface ReportData {
  version: 1;
  run: {
    run_id: string;
    dataset: string;
    results: string;
    model: { uri: string; hash: string; name?: string };
    threshold: number;
    created?: string;
    finished?: string;
    tool_version?: string;
  };
  classes: string[];
  scoreNames: string[];
  perQueue: number;
  pageSize: number;
  aggregates: Aggregates;
  riskCoverage: RiskCoverage;
  queues: ReportQueue[];
  omittedQueues: { id: QueueId; title: string; why: string }[];
  maps: { source: string; note: string | null };
  labelStudioConfig: string;
  /** `overmap audit`'s result, where the run was audited */
  audit?: AuditSummary | null;
}
