import type { PipelineEvent, PipelineListener } from '../common/events.js';

/** Fan-out of pipeline events to any number of reporters; a failing reporter never fails the run. */
export class PipelineEvents {
  private readonly listeners = new Set<PipelineListener>();

  subscribe(listener: PipelineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: PipelineEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // Reporting is best effort: a broken progress display must not abort a bake.
      }
    }
  }
}
