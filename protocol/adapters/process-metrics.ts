/**
 * @module adapters/process-metrics
 * The process's own Prometheus metrics (prom-client's default set: CPU, memory, heap, event-loop lag, GC, open file
 * descriptors, Node version), which operators expect next to a server's own. The broker and the exit both add them
 * to their per-instance registry.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

let processRegistry: Registry | undefined;

/**
 * One registry of process metrics for the whole process, made on first use. Once, not per server instance: each
 * collectDefaultMetrics call starts an event-loop-delay monitor and a GC observer that are never stopped, and the
 * tests start hundreds of brokers in one process. Never prom-client's global registry, which anything could fill.
 */
export function processMetricsRegistry(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}
