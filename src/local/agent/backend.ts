/** What every advertising backend offers the agent loop. */
import type { DesiredService } from './model.js';

export type BackendKind = 'avahi' | 'embedded';

export interface PublishedService {
  key: string;
  type: string;
  /** The instance name in use (after local numbering and, for the embedded backend, conflict renaming). */
  name: string;
  port: number;
  txt: string[];
  serverPid?: number;
  release?: string;
  /**
   * avahi: `handed-to-avahi` (service file written; Avahi probes, renames on conflict, announces);
   * embedded: `probing` or `announced`.
   */
  state: 'handed-to-avahi' | 'probing' | 'announced';
  /** Set when a network conflict forced a new name (embedded backend). */
  renamedFrom?: string;
}

export interface Backend {
  readonly kind: BackendKind;
  /** Reconciles to exactly `desired`; returns quickly (slow steps like probing continue in the background). */
  apply(desired: DesiredService[]): Promise<void>;
  snapshot(): PublishedService[];
  /** Withdraws everything (goodbye packets / service files removed) and releases resources. */
  close(): Promise<void>;
}
